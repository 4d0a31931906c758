// The epilogue of a linear layer after its GEMM (cuBLASLt, whose own GELU epilogue is the tanh
// approximation): y = act(x + bias) + residual, act = exact-erf GELU when gelu = 1, else identity.
// Both operands optional (null); y may alias x (each element is read before it is written, by the
// same thread).
//
// Launch: block = BEIT_EPILOGUE_THREADS (256), grid = min(ceil(rows * n / VEC / 256), 65535), 1-D,
// VEC = 16 / sizeof(T) when vec = 1, else 1; the grid-stride loop covers any size. vec = 1 only if n
// is a multiple of VEC and x, bias, residual and y start on 16-byte boundaries.
#include "beit_common.cuh"

constexpr int BEIT_EPILOGUE_THREADS = 256;

// Over VEC-value vectors of the output (VEC values a 16-byte load and store where the caller found
// every row and operand aligned to 16 bytes, vec = 1; one otherwise), grid-stride: every lane busy
// whatever the row length (768 values are 96 vectors, which a block per row would leave 160 of its 256
// threads idle for). The bias column is a 32-bit remainder of the vector index, once per VEC values.
template <typename T, int VEC, typename Index>
__device__ __forceinline__ void beit_epilogue_vectors(const T* x, const T* bias, const T* residual, T* y,
                                                      Index vectors, Index row_vectors, bool gelu) {
    const Index stride = (Index)gridDim.x * blockDim.x;
    for (Index v = (Index)blockIdx.x * blockDim.x + threadIdx.x; v < vectors; v += stride) {
        const Index e = v * VEC;
        alignas(16) T xv[VEC];
        alignas(16) T bv[VEC];
        alignas(16) T rv[VEC];
        alignas(16) T out[VEC];
        if (VEC > 1) {
            *reinterpret_cast<uint4*>(xv) = *reinterpret_cast<const uint4*>(x + e);
            if (bias) *reinterpret_cast<uint4*>(bv) = *reinterpret_cast<const uint4*>(bias + (v % row_vectors) * VEC);
            if (residual) *reinterpret_cast<uint4*>(rv) = *reinterpret_cast<const uint4*>(residual + e);
        } else {
            xv[0] = x[e];
            if (bias) bv[0] = bias[v % row_vectors];
            if (residual) rv[0] = residual[e];
        }
        BEIT_UNROLL
        for (int i = 0; i < VEC; ++i) {
            const float b = bias ? beit_load(bv + i) : 0.0f;
            const float r = residual ? beit_load(rv + i) : 0.0f;
            beit_store(out + i, beit_epilogue_value(beit_load(xv + i), b, bias != nullptr, r, residual != nullptr, gelu));
        }
        if (VEC > 1)
            *reinterpret_cast<uint4*>(y + e) = *reinterpret_cast<const uint4*>(out);
        else
            y[e] = out[0];
    }
}

template <typename T, int VEC>
__device__ __forceinline__ void beit_epilogue(const T* x, const T* bias, const T* residual, T* y, int rows, int n,
                                                   bool gelu) {
    const long long vectors = (long long)rows * (n / VEC);
    // 32-bit indices (and remainders) wherever they fit: a 64-bit remainder is several times dearer.
    if (vectors < 0x7fffffffLL)
        beit_epilogue_vectors<T, VEC, unsigned>(x, bias, residual, y, (unsigned)vectors, (unsigned)(n / VEC), gelu);
    else
        beit_epilogue_vectors<T, VEC, unsigned long long>(x, bias, residual, y, (unsigned long long)vectors,
                                                          (unsigned long long)(n / VEC), gelu);
}

template <typename T>
__device__ void beit_bias_act_residual(const T* x, const T* bias, const T* residual, T* y, int rows, int n, int gelu,
                                       int vec) {
    constexpr int VEC = 16 / sizeof(T);
    if (vec)
        beit_epilogue<T, VEC>(x, bias, residual, y, rows, n, gelu != 0);
    else
        beit_epilogue<T, 1>(x, bias, residual, y, rows, n, gelu != 0);
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
