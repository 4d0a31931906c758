// The epilogue of a linear layer after its GEMM (cuBLASLt, whose own GELU epilogue is the tanh
// approximation): y = act(x + bias) + residual, act = exact-erf GELU when gelu = 1, else identity.
// Both operands optional (null); y may alias x (each element is read before it is written, by the
// same thread).
//
// Launch: block = BEIT_EPILOGUE_THREADS (256), grid = min(rows, 65535), 1-D; blocks stride over
// the rows. vec = 1 only if n is a multiple of 16 / sizeof(T) and x, bias, residual and y start on
// 16-byte boundaries.
#include "beit_common.cuh"

constexpr int BEIT_EPILOGUE_THREADS = 256;

// Row by row (no per-element index division): blocks stride over the rows, threads over a row's
// columns, VEC values per load and store where the caller found every row and operand aligned to
// 16 bytes (vec = 1), one otherwise (vec = 0).
template <typename T, int VEC>
__device__ __forceinline__ void beit_epilogue_rows(const T* x, const T* bias, const T* residual, T* y, int rows, int n,
                                                   bool gelu) {
    for (int row = blockIdx.x; row < rows; row += gridDim.x) {
        const long long base = (long long)row * n;
        for (int c = threadIdx.x * VEC; c < n; c += BEIT_EPILOGUE_THREADS * VEC) {
            alignas(16) T xv[VEC];
            alignas(16) T bv[VEC];
            alignas(16) T rv[VEC];
            alignas(16) T out[VEC];
            if (VEC > 1) {
                *reinterpret_cast<uint4*>(xv) = *reinterpret_cast<const uint4*>(x + base + c);
                if (bias) *reinterpret_cast<uint4*>(bv) = *reinterpret_cast<const uint4*>(bias + c);
                if (residual) *reinterpret_cast<uint4*>(rv) = *reinterpret_cast<const uint4*>(residual + base + c);
            } else {
                xv[0] = x[base + c];
                if (bias) bv[0] = bias[c];
                if (residual) rv[0] = residual[base + c];
            }
            BEIT_UNROLL
            for (int i = 0; i < VEC; ++i) {
                const float b = bias ? beit_load(bv + i) : 0.0f;
                const float r = residual ? beit_load(rv + i) : 0.0f;
                beit_store(out + i, beit_epilogue_value(beit_load(xv + i), b, bias != nullptr, r, residual != nullptr, gelu));
            }
            if (VEC > 1)
                *reinterpret_cast<uint4*>(y + base + c) = *reinterpret_cast<const uint4*>(out);
            else
                y[base + c] = out[0];
        }
    }
}

template <typename T>
__device__ void beit_bias_act_residual(const T* x, const T* bias, const T* residual, T* y, int rows, int n, int gelu,
                                       int vec) {
    constexpr int VEC = 16 / sizeof(T);
    if (vec)
        beit_epilogue_rows<T, VEC>(x, bias, residual, y, rows, n, gelu != 0);
    else
        beit_epilogue_rows<T, 1>(x, bias, residual, y, rows, n, gelu != 0);
}

// No __restrict__: y may alias x.
#define BEIT_BIAS_ACT_RESIDUAL(NAME, T)                                                                     \
    extern "C" __global__ void __launch_bounds__(BEIT_EPILOGUE_THREADS)                                     \
        NAME(const T* x, const T* bias, const T* residual, T* y, int rows, int n, int gelu, int vec) {      \
        beit_bias_act_residual<T>(x, bias, residual, y, rows, n, gelu, vec);                                \
    }

BEIT_BIAS_ACT_RESIDUAL(beit_bias_act_residual_f32, float)
BEIT_BIAS_ACT_RESIDUAL(beit_bias_act_residual_f16, __half)
BEIT_BIAS_ACT_RESIDUAL(beit_bias_act_residual_bf16, __nv_bfloat16)
