// Fused multi-head attention with an additive bias (BEiT's relative position bias):
// out = softmax(scale * Q K^T + bias) V for every (image, head), flash style.
//
// Q, K and V are read in place from the fused projection [B, S, 3D] and the context is written
// into its [B, S, D] columns: no transposes, and the S x S scores exist only as one BQ x BK tile in
// shared memory. Softmax and every accumulation are f32 whatever the dtype.
//
// Launch (constants in attention_tiles.cuh):
//   block = BEIT_ATTN_THREADS (128) threads
//   grid  = (ceil(seq / BEIT_ATTN_BQ), heads, batch)     BEIT_ATTN_BQ = 32
//   dynamic shared memory = beit_attention_shared_bytes(head_dim)
//                         = 4 * (32*hd + 32*(hd|1) + 32*33 + 64) bytes, hd = head_dim <= 128
// bias: null, or [heads, S, S] f32 contiguous. head_dim > 128 is refused by the caller.
#include "attention_flash.cuh"
#include "attention_mma.cuh"
#include "attention_tiles.cuh"

template <typename T>
__device__ void beit_attention(const T* __restrict__ qkv, const float* __restrict__ bias, T* __restrict__ out,
                               int seq, int heads, int head_dim, float scale) {
    extern __shared__ float smem[];
    const BeitAttnSmem L = beit_attention_smem(head_dim);
    const int tid = threadIdx.x;
    const int q_tile = blockIdx.x, head = blockIdx.y, b = blockIdx.z;
    const int q0 = q_tile * BEIT_ATTN_BQ;
    const int qn = beit_tile_rows(seq, q_tile, BEIT_ATTN_BQ);

    beit_attn_load_tile(smem + L.q, head_dim, BEIT_ATTN_BQ, qkv, b, q0, qn, 0, head, seq, heads, head_dim, tid);
    float m = -INFINITY, l = 0.0f;  // threads 0..BQ-1: their row's running max and sum
    float acc[BEIT_ATTN_ACC_COLS];
    BEIT_UNROLL
    for (int k = 0; k < BEIT_ATTN_ACC_COLS; ++k) acc[k] = 0.0f;

    const int tiles = beit_tile_count(seq, BEIT_ATTN_BK);
    for (int t = 0; t < tiles; ++t) {
        const int k0 = t * BEIT_ATTN_BK;
        const int kn = beit_tile_rows(seq, t, BEIT_ATTN_BK);
        // The previous tile's V (same buffer) is read by everyone before K overwrites it; on the
        // first tile this makes the Q tile visible.
        __syncthreads();
        beit_attn_load_tile(smem + L.kv, L.kv_stride, BEIT_ATTN_BK, qkv, b, k0, kn, 1, head, seq, heads, head_dim,
                            tid);
        __syncthreads();
        beit_attn_scores(smem, L, bias, head, q0, qn, k0, kn, seq, head_dim, scale, tid);
        __syncthreads();  // scores complete, and K no longer read: its buffer takes V
        beit_attn_softmax(smem, L, kn, &m, &l, tid);
        beit_attn_load_tile(smem + L.kv, L.kv_stride, BEIT_ATTN_BK, qkv, b, k0, kn, 2, head, seq, heads, head_dim,
                            tid);
        __syncthreads();  // probabilities, alpha and V in place
        beit_attn_accumulate(acc, smem, L, kn, head_dim, tid);
    }
    if (tid < BEIT_ATTN_BQ) smem[L.l + tid] = l;
    __syncthreads();
    beit_attn_store(out, acc, smem, L, b, head, q0, qn, seq, heads, head_dim, tid);
}

#define BEIT_ATTENTION(NAME, T)                                                                           \
    extern "C" __global__ void __launch_bounds__(BEIT_ATTN_THREADS)                                        \
        NAME(const T* qkv, const float* bias, T* out, int batch, int seq, int heads, int head_dim,         \
             float scale) {                                                                                \
        (void)batch; /* the grid's z extent */                                                            \
        beit_attention<T>(qkv, bias, out, seq, heads, head_dim, scale);                                    \
    }

BEIT_ATTENTION(beit_attention_f32, float)
BEIT_ATTENTION(beit_attention_f16, __half)
BEIT_ATTENTION(beit_attention_bf16, __nv_bfloat16)

// The tensor-core variant (attention_mma.cuh): f16 and bf16 only, same arguments.
#define BEIT_ATTENTION_MMA(NAME, T)                                                                       \
    extern "C" __global__ void __launch_bounds__(BEIT_MMA_THREADS)                                         \
        NAME(const T* qkv, const float* bias, T* out, int batch, int seq, int heads, int head_dim,         \
             float scale) {                                                                                \
        (void)batch; /* the grid's z extent */                                                            \
        beit_attention_mma<T>(qkv, bias, out, seq, heads, head_dim, scale);                                \
    }

BEIT_ATTENTION_MMA(beit_attention_mma_f16, __half)
BEIT_ATTENTION_MMA(beit_attention_mma_bf16, __nv_bfloat16)

// The register-resident tensor-core variant (attention_flash.cuh), one kernel a head size; the
// same arguments (head_dim is the template's).
#define BEIT_ATTENTION_FLASH(NAME, T, D)                                                                  \
    extern "C" __global__ void __launch_bounds__(BEIT_FLASH_THREADS)                                       \
        NAME(const T* qkv, const float* bias, T* out, int batch, int seq, int heads, int head_dim,         \
             float scale) {                                                                                \
        (void)batch;                                                                                       \
        (void)head_dim;                                                                                    \
        beit_attention_flash<T, D>(qkv, bias, out, seq, heads, scale);                                     \
    }

BEIT_ATTENTION_FLASH(beit_attention_flash32_f16, __half, 32)
BEIT_ATTENTION_FLASH(beit_attention_flash32_bf16, __nv_bfloat16, 32)
BEIT_ATTENTION_FLASH(beit_attention_flash64_f16, __half, 64)
BEIT_ATTENTION_FLASH(beit_attention_flash64_bf16, __nv_bfloat16, 64)
BEIT_ATTENTION_FLASH(beit_attention_flash128_f16, __half, 128)
BEIT_ATTENTION_FLASH(beit_attention_flash128_bf16, __nv_bfloat16, 128)
