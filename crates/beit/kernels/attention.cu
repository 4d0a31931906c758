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
// bias: null, or [heads, S, S] in the dtype of qkv (as transformers adds it), rows bias_ld >= S values
// apart. head_dim > 128 is refused by the caller.
#include "attention_flash.cuh"
#include "attention_mma.cuh"
#include "attention_tiles.cuh"

template <typename T>
__device__ void beit_attention(const T* __restrict__ qkv, const T* __restrict__ bias, T* __restrict__ out,
                               int seq, int heads, int head_dim, int bias_ld, float scale) {
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
        beit_attn_scores(smem, L, bias, bias_ld, head, q0, qn, k0, kn, seq, head_dim, scale, tid);
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

// Every attention kernel takes the same arguments, so that one launch serves them all (the grid's z
// extent is the batch). FN in parentheses where its template arguments hold a comma.
#define BEIT_ATTENTION_KERNEL(NAME, T, THREADS, FN)                                                       \
    extern "C" __global__ void __launch_bounds__(THREADS)                                                  \
        NAME(const T* qkv, const T* bias, T* out, int batch, int seq, int heads, int head_dim, int bias_ld, \
             float scale) {                                                                                \
        (void)batch;                                                                                       \
        FN(qkv, bias, out, seq, heads, head_dim, bias_ld, scale);                                          \
    }

// The SIMT kernel (attention_tiles.cuh): every dtype.
BEIT_ATTENTION_KERNEL(beit_attention_f32, float, BEIT_ATTN_THREADS, beit_attention<float>)
BEIT_ATTENTION_KERNEL(beit_attention_f16, __half, BEIT_ATTN_THREADS, beit_attention<__half>)
BEIT_ATTENTION_KERNEL(beit_attention_bf16, __nv_bfloat16, BEIT_ATTN_THREADS, beit_attention<__nv_bfloat16>)

// The wmma tensor-core kernel (attention_mma.cuh): f16 and bf16.
BEIT_ATTENTION_KERNEL(beit_attention_mma_f16, __half, BEIT_MMA_THREADS, beit_attention_mma<__half>)
BEIT_ATTENTION_KERNEL(beit_attention_mma_bf16, __nv_bfloat16, BEIT_MMA_THREADS, beit_attention_mma<__nv_bfloat16>)

// The register-resident tensor-core kernel (attention_flash.cuh): f16 and bf16, one a head size and
// block of W warps (beit_attention_flash{D}w{W}_{dtype}).
#define BEIT_ATTENTION_FLASH(D, W)                                                                         \
    BEIT_ATTENTION_KERNEL(beit_attention_flash##D##w##W##_f16, __half, 32 * W,                             \
                          (beit_attention_flash<__half, D, W>))                                            \
    BEIT_ATTENTION_KERNEL(beit_attention_flash##D##w##W##_bf16, __nv_bfloat16, 32 * W,                     \
                          (beit_attention_flash<__nv_bfloat16, D, W>))

BEIT_ATTENTION_FLASH(32, 4)
BEIT_ATTENTION_FLASH(64, 4)
BEIT_ATTENTION_FLASH(128, 4)
BEIT_ATTENTION_FLASH(32, 8)
BEIT_ATTENTION_FLASH(64, 8)
BEIT_ATTENTION_FLASH(128, 8)
