// GPU preprocessing of a uint8 HWC batch to normalized NCHW, equal to the CPU path bit for bit:
// Pillow's separable resampling (horizontal pass, bytes in between, vertical pass), then crop,
// rescale and normalize. The arithmetic is in preprocess_math.cuh; the taps come from the host.
//
// Launch, every kernel: block = BEIT_PREPROCESS_THREADS (256), grid = min(ceil(n / 256), 65535)
// where n is the destination's element count; grid-stride loops cover any n.
// As on the CPU, a pass whose size does not change may be skipped (its taps are the identity).
#include "preprocess_math.cuh"

__device__ __forceinline__ long long beit_first_index() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ long long beit_grid_stride() { return (long long)gridDim.x * blockDim.x; }

// src [B, H, W, C] -> dst [B, H, out_w, C]; bounds [out_w * 2] (xmin, taps), coeffs [out_w * ksize].
extern "C" __global__ void __launch_bounds__(BEIT_PREPROCESS_THREADS)
    beit_resample_h_u8(const unsigned char* src, unsigned char* dst, int batch, int h, int w, int out_w, int channels,
                       const int* bounds, const int* coeffs, int ksize) {
    const long long n = (long long)batch * h * out_w * channels;
    for (long long e = beit_first_index(); e < n; e += beit_grid_stride())
        dst[e] = beit_resample_h_at(src, e, w, out_w, channels, bounds, coeffs, ksize);
}

// src [B, H, W, C] -> dst [B, out_h, W, C]; bounds [out_h * 2] (ymin, taps), coeffs [out_h * ksize].
extern "C" __global__ void __launch_bounds__(BEIT_PREPROCESS_THREADS)
    beit_resample_v_u8(const unsigned char* src, unsigned char* dst, int batch, int h, int w, int out_h, int channels,
                       const int* bounds, const int* coeffs, int ksize) {
    const long long n = (long long)batch * out_h * w * channels;
    for (long long e = beit_first_index(); e < n; e += beit_grid_stride())
        dst[e] = beit_resample_v_at(src, e, h, w, out_h, channels, bounds, coeffs, ksize);
}

template <typename T>
__device__ void beit_normalize(const unsigned char* src, T* dst, int batch, int h, int w, int channels, int top,
                               int left, int out_h, int out_w, const double* factor, const float* mean,
                               const float* std, int do_rescale, int do_normalize) {
    const long long n = (long long)batch * channels * out_h * out_w;
    for (long long e = beit_first_index(); e < n; e += beit_grid_stride())
        beit_store(dst + e, beit_normalize_at(src, e, h, w, channels, top, left, out_h, out_w, factor, mean, std,
                                              do_rescale, do_normalize));
}

// src [B, h, w, C] u8 -> dst [B, C, out_h, out_w]; factor [C] f64, mean and std [C] f32.
#define BEIT_NORMALIZE(NAME, T)                                                                             \
    extern "C" __global__ void __launch_bounds__(BEIT_PREPROCESS_THREADS)                                   \
        NAME(const unsigned char* src, T* dst, int batch, int h, int w, int channels, int top, int left,    \
             int out_h, int out_w, const double* factor, const float* mean, const float* std, int do_rescale, \
             int do_normalize) {                                                                            \
        beit_normalize<T>(src, dst, batch, h, w, channels, top, left, out_h, out_w, factor, mean, std,      \
                          do_rescale, do_normalize);                                                        \
    }

BEIT_NORMALIZE(beit_normalize_f32, float)
BEIT_NORMALIZE(beit_normalize_f16, __half)
BEIT_NORMALIZE(beit_normalize_bf16, __nv_bfloat16)
