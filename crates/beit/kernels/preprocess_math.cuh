// The arithmetic of GPU preprocessing (preprocess.cu), host and device, so GPU pixels equal the
// CPU's bit for bit: Pillow's fixed-point separable resampling (crates/beit/src/image/resize.rs),
// then HF's center crop, rescale and normalize (crates/beit/src/image/{crop,processor}.rs).
//
// The taps (bounds and 22-bit fixed-point coefficients) are computed on the host by
// `beit::image::resize::resample_taps`, exactly as the CPU path computes them, and uploaded; here
// each output value is one function of its flat index, so the kernels are grid-stride loops over
// these functions and the host check calls the same functions for every index.
#pragma once

#include "beit_common.cuh"

// Launch of every preprocess kernel: block = BEIT_PREPROCESS_THREADS (256),
// grid = min(ceil(elements / 256), 65535), 1-D, grid-stride. elements = the destination's size.
constexpr int BEIT_PREPROCESS_THREADS = 256;
constexpr int BEIT_RESAMPLE_PRECISION_BITS = 32 - 8 - 2;

// Pillow's clip8: the fixed-point sum back to a byte, saturating.
BEIT_HD inline unsigned char beit_clip8(int v) {
    if (v >= (1 << BEIT_RESAMPLE_PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (unsigned char)(v >> BEIT_RESAMPLE_PRECISION_BITS);
}

// One output byte: sum over `taps` inputs `step` bytes apart from `src` (the first tap), with
// Pillow's rounding half, then clip8. The sum fits i32 (|weights| sum to about 2^22, bytes <= 255).
BEIT_HD inline unsigned char beit_resample_pixel(const unsigned char* src, long long step, int taps, const int* coeffs) {
    int ss = 1 << (BEIT_RESAMPLE_PRECISION_BITS - 1);
    for (int k = 0; k < taps; ++k) ss += (int)src[k * step] * coeffs[k];
    return beit_clip8(ss);
}

// Element e of the horizontal pass [B, H, W, C] -> [B, H, out_w, C] (b and y fold into one row index).
BEIT_HD inline unsigned char beit_resample_h_at(const unsigned char* src, long long e, int w, int out_w, int channels,
                                                const int* bounds, const int* coeffs, int ksize) {
    const int ch = (int)(e % channels);
    const int xx = (int)(e / channels % out_w);
    const long long row = e / ((long long)channels * out_w);
    const unsigned char* line = src + row * w * channels;
    return beit_resample_pixel(line + (long long)bounds[2 * xx] * channels + ch, channels, bounds[2 * xx + 1],
                               coeffs + (long long)xx * ksize);
}

// Element e of the vertical pass [B, H, W, C] -> [B, out_h, W, C].
BEIT_HD inline unsigned char beit_resample_v_at(const unsigned char* src, long long e, int h, int w, int out_h,
                                                int channels, const int* bounds, const int* coeffs, int ksize) {
    const long long line = (long long)w * channels;
    const long long i = e % line;  // (x, channel) within the row
    const int yy = (int)(e / line % out_h);
    const long long b = e / (line * out_h);
    const unsigned char* first = src + (b * h + bounds[2 * yy]) * line + i;
    return beit_resample_pixel(first, line, bounds[2 * yy + 1], coeffs + (long long)yy * ksize);
}

// HF's rescale then normalize of one byte: rescale in f64 then cast to f32, normalize in f32 with
// an IEEE division, as processor.rs does.
BEIT_HD inline float beit_normalize_value(unsigned char v, double factor, float mean, float std, int do_rescale,
                                          int do_normalize) {
    float x = (float)v;
    if (do_rescale) x = (float)((double)v * factor);
    if (do_normalize) x = beit_div_rn(x - mean, std);
    return x;
}

// Element e of normalize: [B, h, w, C] u8, cropped at (top, left) to out_h x out_w (negative or
// overhanging offsets read 0, as center_crop pads), to channels-first [B, C, out_h, out_w].
BEIT_HD inline float beit_normalize_at(const unsigned char* src, long long e, int h, int w, int channels, int top,
                                       int left, int out_h, int out_w, const double* factor, const float* mean,
                                       const float* std, int do_rescale, int do_normalize) {
    const int x = (int)(e % out_w);
    const int y = (int)(e / out_w % out_h);
    const int c = (int)(e / ((long long)out_w * out_h) % channels);
    const long long b = e / ((long long)out_w * out_h * channels);
    const int sy = top + y, sx = left + x;
    const bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
    const unsigned char v = inside ? src[((b * h + sy) * w + sx) * channels + c] : 0;
    return beit_normalize_value(v, factor[c], mean[c], std[c], do_rescale, do_normalize);
}
