// LayerNorm over the last dimension: y = (x - mean) / sqrt(var + eps) * weight + bias, statistics
// in f32 by two passes (layer_norm_row.cuh). weight and bias have x's dtype.
//
// Launch (layer_norm_row.cuh): one warp a row, BEIT_LN_ROWS (4) rows a block of 128 threads,
// grid = ceil(rows / 4). Rows are read three times (sum, centred sum, output); a BEiT row is
// 768-1024 values, so the second and third reads come from L1.
#include "layer_norm_row.cuh"

template <typename T>
__device__ void beit_layer_norm(const T* __restrict__ x, const T* __restrict__ weight, const T* __restrict__ bias,
                                T* __restrict__ y, int dim, float eps, long long row) {
    const int lane = threadIdx.x % 32;
    const long long start = row * dim;
    const T* r = x + start;
    const float mean = beit_div_rn(beit_warp_sum(beit_ln_partial_sum(r, dim, lane)), (float)dim);
    const float inv_std = beit_ln_inv_std(beit_warp_sum(beit_ln_partial_centred(r, dim, mean, lane)), dim, eps);
    for (int c = lane; c < dim; c += BEIT_LN_THREADS)
        beit_store(y + start + c, beit_ln_value(beit_load(r + c), mean, inv_std, beit_load(weight + c), beit_load(bias + c)));
}

// One warp a row; a whole warp leaves or stays, so its shuffles always see 32 lanes.
#define BEIT_LAYER_NORM(NAME, T)                                                                            \
    extern "C" __global__ void __launch_bounds__(BEIT_LN_THREADS * BEIT_LN_ROWS)                            \
        NAME(const T* x, const T* weight, const T* bias, T* y, int rows, int dim, float eps) {              \
        const long long row = (long long)blockIdx.x * BEIT_LN_ROWS + threadIdx.x / 32;                      \
        if (row >= rows) return;                                                                            \
        beit_layer_norm<T>(x, weight, bias, y, dim, eps, row);                                              \
    }

BEIT_LAYER_NORM(beit_layer_norm_f32, float)
BEIT_LAYER_NORM(beit_layer_norm_f16, __half)
BEIT_LAYER_NORM(beit_layer_norm_bf16, __nv_bfloat16)
