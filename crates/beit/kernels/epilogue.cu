// The epilogue of a linear layer after its GEMM (cuBLASLt, whose own GELU epilogue is the tanh
// approximation): y = act(x + bias) + residual, act = exact-erf GELU when gelu = 1, else identity.
// Both operands optional (null); y may alias x (each element is read before it is written, by the
// same thread).
//
// Launch: block = BEIT_EPILOGUE_THREADS (256), grid = min(ceil(rows * n / VEC / (256 * UNROLL)),
// 65535), 1-D, VEC = 16 / sizeof(T) when vec = 1, else 1, UNROLL = BEIT_EPILOGUE_UNROLL (4); the
// grid-stride loop covers any size. vec = 1 only if n is a multiple of VEC and x, bias, residual and y
// start on 16-byte boundaries.
#include "beit_common.cuh"


// Over VEC-value vectors of the output (VEC values a 16-byte load and store where the caller found
// every row and operand aligned to 16 bytes, vec = 1; one otherwise), grid-stride: every lane busy
// whatever the row length (768 values are 96 vectors, which a block per row would leave 160 of its 256
// threads idle for). A block takes UNROLL * 256 consecutive vectors a step, thread t those at t + 256 u
// (each of the UNROLL loads coalesced). The bias column is a 32-bit remainder of the vector index,
// once per VEC values.
template <typename T, int VEC, typename Index>
__device__ __forceinline__ void beit_epilogue_vectors(const T* x, const T* bias, const T* residual, T* y,
                                                      Index vectors, Index row_vectors, bool gelu) {
    constexpr int U = BEIT_EPILOGUE_UNROLL;
    const Index step = (Index)gridDim.x * blockDim.x * U;
    for (Index v0 = (Index)blockIdx.x * blockDim.x * U + threadIdx.x; v0 < vectors; v0 += step) {
        // The streamed operands first (the bias, a few KB, stays in L1 and is read when used).
        alignas(16) T xv[U][VEC];
        alignas(16) T rv[U][VEC];
        BEIT_UNROLL
        for (int u = 0; u < U; ++u) {
            const Index v = v0 + (Index)u * blockDim.x;
            if (v >= vectors) break;
            const Index e = v * VEC;
            if (VEC > 1) {
                *reinterpret_cast<uint4*>(xv[u]) = *reinterpret_cast<const uint4*>(x + e);
                if (residual) *reinterpret_cast<uint4*>(rv[u]) = *reinterpret_cast<const uint4*>(residual + e);
            } else {
                xv[u][0] = x[e];
                if (residual) rv[u][0] = residual[e];
            }
        }
        BEIT_UNROLL
        for (int u = 0; u < U; ++u) {
            const Index v = v0 + (Index)u * blockDim.x;
            if (v >= vectors) break;
            alignas(16) T bv[VEC];
            if (bias) {
                if (VEC > 1)
                    *reinterpret_cast<uint4*>(bv) = *reinterpret_cast<const uint4*>(bias + (v % row_vectors) * VEC);
                else
                    bv[0] = bias[v % row_vectors];
            }
            alignas(16) T out[VEC];
            BEIT_UNROLL
            for (int i = 0; i < VEC; ++i) {
                const float b = bias ? beit_load(bv + i) : 0.0f;
                const float r = residual ? beit_load(rv[u] + i) : 0.0f;
                beit_store(out + i,
                           beit_epilogue_value(beit_load(xv[u] + i), b, bias != nullptr, r, residual != nullptr, gelu));
            }
            if (VEC > 1)
                *reinterpret_cast<uint4*>(y + v * VEC) = *reinterpret_cast<const uint4*>(out);
            else
                y[v] = out[0];
        }
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
    extern "C" __global__ void __launch_bounds__(BEIT_EPILOGUE_THREADS, 4)                                  \
        NAME(const T* x, const T* bias, const T* residual, T* y, int rows, int n, int gelu, int vec) {      \
        beit_bias_act_residual<T>(x, bias, residual, y, rows, n, gelu, vec);                                \
    }

BEIT_BIAS_ACT_RESIDUAL(beit_bias_act_residual_f32, float)
BEIT_BIAS_ACT_RESIDUAL(beit_bias_act_residual_f16, __half)
BEIT_BIAS_ACT_RESIDUAL(beit_bias_act_residual_bf16, __nv_bfloat16)
