// LayerNorm over the last dimension: y = (x - mean) / sqrt(var + eps) * weight + bias, statistics
// in f32 by two passes (layer_norm_row.cuh). weight and bias have x's dtype.
//
// Launch: block = BEIT_LN_THREADS (256), grid = rows (one block per row), no dynamic shared
// memory. Rows are read three times (sum, centred sum, output); a BEiT row is 768-1024 values, so
// the second and third reads come from L1/L2.
#include "layer_norm_row.cuh"

// The sum of every thread's `v`, on every thread; `scratch` holds one float per warp.
__device__ __forceinline__ float beit_block_sum(float v, float* scratch) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    v = beit_warp_sum(v);
    __syncthreads();  // a previous call's readers are done with scratch
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < BEIT_LN_WARPS ? scratch[lane] : 0.0f;
    return beit_warp_sum(v);  // every warp reduces the same values in the same order
}

template <typename T>
__device__ void beit_layer_norm(const T* __restrict__ x, const T* __restrict__ weight, const T* __restrict__ bias,
                                T* __restrict__ y, int dim, float eps) {
    __shared__ float scratch[BEIT_LN_WARPS];
    const int tid = threadIdx.x;
    const long long start = (long long)blockIdx.x * dim;
    const T* row = x + start;
    const float mean = beit_div_rn(beit_block_sum(beit_ln_partial_sum(row, dim, tid), scratch), (float)dim);
    const float inv_std = beit_ln_inv_std(beit_block_sum(beit_ln_partial_centred(row, dim, mean, tid), scratch), dim, eps);
    for (int c = tid; c < dim; c += BEIT_LN_THREADS)
        beit_store(y + start + c, beit_ln_value(beit_load(row + c), mean, inv_std, beit_load(weight + c), beit_load(bias + c)));
}

#define BEIT_LAYER_NORM(NAME, T)                                                                            \
    extern "C" __global__ void __launch_bounds__(BEIT_LN_THREADS)                                           \
        NAME(const T* x, const T* weight, const T* bias, T* y, int rows, int dim, float eps) {              \
        if ((int)blockIdx.x >= rows) return;                                                                \
        beit_layer_norm<T>(x, weight, bias, y, dim, eps);                                                   \
    }

BEIT_LAYER_NORM(beit_layer_norm_f32, float)
BEIT_LAYER_NORM(beit_layer_norm_f16, __half)
BEIT_LAYER_NORM(beit_layer_norm_bf16, __nv_bfloat16)
