// The epilogue of a linear layer after its GEMM (cuBLASLt, whose own GELU epilogue is the tanh
// approximation): y = act(x + bias) + residual, act = exact-erf GELU when gelu = 1, else identity.
// Both operands optional (null); y may alias x (each element is read before it is written, by the
// same thread).
//
// Launch: block = BEIT_EPILOGUE_THREADS (256), grid = min(ceil(rows * n / 256), 65535), 1-D; the
// grid-stride loop covers any size.
#include "beit_common.cuh"

constexpr int BEIT_EPILOGUE_THREADS = 256;

template <typename T>
__device__ void beit_bias_act_residual(const T* x, const T* bias, const T* residual, T* y, int rows, int n,
                                       int gelu) {
    const long long total = (long long)rows * n;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += stride) {
        const float b = bias ? beit_load(bias + e % n) : 0.0f;
        const float r = residual ? beit_load(residual + e) : 0.0f;
        beit_store(y + e, beit_epilogue_value(beit_load(x + e), b, bias != nullptr, r, residual != nullptr, gelu != 0));
    }
}

// No __restrict__: y may alias x.
#define BEIT_BIAS_ACT_RESIDUAL(NAME, T)                                                                     \
    extern "C" __global__ void __launch_bounds__(BEIT_EPILOGUE_THREADS)                                     \
        NAME(const T* x, const T* bias, const T* residual, T* y, int rows, int n, int gelu) {               \
        beit_bias_act_residual<T>(x, bias, residual, y, rows, n, gelu);                                     \
    }

BEIT_BIAS_ACT_RESIDUAL(beit_bias_act_residual_f32, float)
BEIT_BIAS_ACT_RESIDUAL(beit_bias_act_residual_f16, __half)
BEIT_BIAS_ACT_RESIDUAL(beit_bias_act_residual_bf16, __nv_bfloat16)
