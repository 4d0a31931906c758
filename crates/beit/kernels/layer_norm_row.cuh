// The arithmetic of LayerNorm over one row (layer_norm.cu), host and device.
//
// Two-pass statistics in f32: the mean, then the centred variance sum((x - mean)^2) / n, never
// E[x^2] - E[x]^2, which cancels once a deep ViT's residual stream grows a large mean (see
// crates/beit/src/ops/layer_norm.rs). Each of the BEIT_LN_THREADS lanes sums a strided slice of
// the row; the warp then combines the partials in a fixed order (xor butterfly), which the host
// check replays.
#pragma once

#include "beit_common.cuh"

// Launch: one warp a row (BEIT_LN_THREADS threads), BEIT_LN_ROWS rows a block: block =
// BEIT_LN_THREADS * BEIT_LN_ROWS, grid = ceil(rows / BEIT_LN_ROWS), no dynamic shared memory. A
// BEiT row (768-1024 values) is 24-32 values a lane: one warp's shuffles reduce it, where a block
// of 256 threads a row spent its time in __syncthreads.
constexpr int BEIT_LN_THREADS = 32;
constexpr int BEIT_LN_WARPS = BEIT_LN_THREADS / 32;
constexpr int BEIT_LN_ROWS = 4;
static_assert(BEIT_LN_THREADS == 32, "one warp a row: the reduction is one warp butterfly");

// Thread tid's share of sum(x): elements tid, tid + THREADS, ... of the row.
template <typename T>
BEIT_HD inline float beit_ln_partial_sum(const T* row, int dim, int tid) {
    float s = 0.0f;
    for (int c = tid; c < dim; c += BEIT_LN_THREADS) s += beit_load(row + c);
    return s;
}

// Thread tid's share of sum((x - mean)^2).
template <typename T>
BEIT_HD inline float beit_ln_partial_centred(const T* row, int dim, float mean, int tid) {
    float s = 0.0f;
    for (int c = tid; c < dim; c += BEIT_LN_THREADS) {
        const float d = beit_load(row + c) - mean;
        s = fmaf(d, d, s);
    }
    return s;
}

BEIT_HD inline float beit_ln_inv_std(float centred_sum, int dim, float eps) {
    const float var = beit_div_rn(centred_sum, (float)dim);
    return beit_div_rn(1.0f, beit_sqrt_rn(var + eps));
}

// (x - mean) / std * weight + bias: the normalised value, then one fma (the CPU op rounds the
// product first; the two differ by an ulp at most).
BEIT_HD inline float beit_ln_value(float x, float mean, float inv_std, float weight, float bias) {
    return fmaf((x - mean) * inv_std, weight, bias);
}
