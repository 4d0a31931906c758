// Index maps, tile bounds and per-thread phases of the fused attention (attention.cu).
//
// Everything here is host and device: the kernel runs each phase with tid = threadIdx.x, and the
// host check (crates/kernel-check) runs the same phases for every tid in turn, one phase after the
// other, which is what the kernel's __syncthreads between phases guarantee. A wrong index map, tile
// bound or shared-memory layout therefore fails on the CPU, before any GPU sees it.
//
// Algorithm (flash attention, one block per (query tile, head, image)):
//   load Q tile -> for each key tile: load K tile, scores S = scale Q K^T + bias (BQ x BK, shared),
//   per-row online softmax over the tile (S becomes P, running max m and sum l), load V tile into
//   the K buffer, acc = acc * alpha + P V -> out = acc / l.
// Only a BQ x BK tile of scores ever exists; the S x S matrix never reaches global memory.
#pragma once

#include "beit_common.cuh"

// ---- Launch configuration (the Rust side mirrors these) ------------------------------------------
// block = BEIT_ATTN_THREADS threads; grid = (ceil(seq / BEIT_ATTN_BQ), heads, batch);
// dynamic shared memory = beit_attention_shared_bytes(head_dim) (under 48 KiB up to head_dim 128,
// so no opt-in attribute is needed).
constexpr int BEIT_ATTN_THREADS = 128;
constexpr int BEIT_ATTN_BQ = 32;  // query rows per block
constexpr int BEIT_ATTN_BK = 32;  // keys per tile
constexpr int BEIT_ATTN_MAX_HEAD_DIM = 128;

// Phase 1 mapping: thread -> key column tid % BK and rows tid / BK + SCORE_ROW_STEP * r.
constexpr int BEIT_ATTN_SCORE_ROW_STEP = BEIT_ATTN_THREADS / BEIT_ATTN_BK;
constexpr int BEIT_ATTN_SCORE_ROWS = BEIT_ATTN_BQ / BEIT_ATTN_SCORE_ROW_STEP;
// Phase 3 mapping: thread -> query row tid / ACC_STEP and columns tid % ACC_STEP + ACC_STEP * k.
constexpr int BEIT_ATTN_ACC_STEP = BEIT_ATTN_THREADS / BEIT_ATTN_BQ;
constexpr int BEIT_ATTN_ACC_COLS = BEIT_ATTN_MAX_HEAD_DIM / BEIT_ATTN_ACC_STEP;

static_assert(BEIT_ATTN_THREADS % BEIT_ATTN_BK == 0, "phase 1 needs whole rows of key columns");
static_assert(BEIT_ATTN_BQ % BEIT_ATTN_SCORE_ROW_STEP == 0, "phase 1 must cover every query row");
static_assert(BEIT_ATTN_THREADS % BEIT_ATTN_BQ == 0, "phase 3 needs the same threads per row");
static_assert(BEIT_ATTN_MAX_HEAD_DIM % BEIT_ATTN_ACC_STEP == 0, "phase 3 must cover every column");
static_assert(BEIT_ATTN_BQ <= BEIT_ATTN_THREADS, "phase 2 runs one thread per query row");

// ---- Index maps --------------------------------------------------------------------------------
// All offsets are 64-bit: B * S * 3D passes 2^31 for large batches of large images.

// Element (b, s, which, head, d) of the fused projection [B, S, 3 * D], D = heads * head_dim,
// which = 0 (q), 1 (k), 2 (v); heads are contiguous within each of q, k and v.
BEIT_HD inline long long beit_qkv_offset(int b, int s, int which, int head, int d, int seq, int heads,
                                         int head_dim) {
    const long long dim = (long long)heads * head_dim;
    return ((long long)b * seq + s) * 3 * dim + which * dim + (long long)head * head_dim + d;
}

// Element (head, i, j) of the bias [heads, S, S] (in the dtype of qkv), whose rows of S values lie
// `ld` >= S apart: padded to a multiple of 8 (16-byte rows in f16/bf16) where the caller can.
BEIT_HD inline long long beit_bias_offset(int head, int i, int j, int seq, int ld) {
    return ((long long)head * seq + i) * ld + j;
}

// Element (b, s, head, d) of the context [B, S, D]: each head writes its own columns.
BEIT_HD inline long long beit_context_offset(int b, int s, int head, int d, int seq, int heads, int head_dim) {
    return ((long long)b * seq + s) * ((long long)heads * head_dim) + (long long)head * head_dim + d;
}

// ---- Tile arithmetic ---------------------------------------------------------------------------
BEIT_HD inline int beit_tile_count(int n, int tile) { return (n + tile - 1) / tile; }

// Valid rows of tile t over n rows: `tile` except for the last one (0 past the end).
BEIT_HD inline int beit_tile_rows(int n, int t, int tile) {
    const int left = n - t * tile;
    return left <= 0 ? 0 : (left < tile ? left : tile);
}

// ---- Shared-memory layout (in floats; every buffer f32 whatever the dtype) ---------------------
struct BeitAttnSmem {
    int q;          // BQ x head_dim, row stride head_dim (read as a broadcast: no padding needed)
    int kv;         // BK x kv_stride: the K tile, then the V tile of the same keys
    int kv_stride;  // odd, so the 32 lanes reading 32 different key rows hit 32 different banks
    int p;          // BQ x p_stride: scores, then probabilities
    int p_stride;   // BK + 1, odd for the same reason
    int alpha;      // BQ: each row's rescale factor of the current tile
    int l;          // BQ: each row's softmax denominator, at the end
    int total;
};

BEIT_HD inline BeitAttnSmem beit_attention_smem(int head_dim) {
    BeitAttnSmem s;
    s.kv_stride = head_dim | 1;
    s.p_stride = BEIT_ATTN_BK + 1;
    s.q = 0;
    s.kv = s.q + BEIT_ATTN_BQ * head_dim;
    s.p = s.kv + BEIT_ATTN_BK * s.kv_stride;
    s.alpha = s.p + BEIT_ATTN_BQ * s.p_stride;
    s.l = s.alpha + BEIT_ATTN_BQ;
    s.total = s.l + BEIT_ATTN_BQ;
    return s;
}

// Dynamic shared memory of one block: 4 * (64 * head_dim + 1152) bytes for even head_dim
// (17,920 at 64, 37,376 at 128).
BEIT_HD inline int beit_attention_shared_bytes(int head_dim) {
    return (int)sizeof(float) * beit_attention_smem(head_dim).total;
}

// ---- Online softmax ----------------------------------------------------------------------------
// One query row over one key tile. `scores[0, n)` hold scale * q.k + bias for the tile's valid keys;
// on return they hold p_j = exp(s_j - m_new), *m and *l are the running max and sum over every tile
// so far, and the result exp(m_old - m_new) is the factor by which the row's accumulator must be
// rescaled before P V of this tile is added.
BEIT_HD inline float beit_online_softmax_tile(float* scores, int n, float* m, float* l) {
    float tile_max = -INFINITY;
    for (int j = 0; j < n; ++j) tile_max = fmaxf(tile_max, scores[j]);
    const float m_new = fmaxf(*m, tile_max);
    if (m_new == -INFINITY) {
        // Every score so far is -inf (a fully masked prefix): nothing has weight yet, and
        // exp(-inf - -inf) would be NaN.
        for (int j = 0; j < n; ++j) scores[j] = 0.0f;
        return 1.0f;
    }
    const float alpha = expf(*m - m_new);  // 0 on the first tile, where *m is -inf
    float sum = 0.0f;
    for (int j = 0; j < n; ++j) {
        scores[j] = expf(scores[j] - m_new);
        sum += scores[j];
    }
    *l = *l * alpha + sum;
    *m = m_new;
    return alpha;
}

// ---- Per-thread phases (T: the dtype of qkv) ---------------------------------------------------

// Rows [0, rows_valid) of a tile of q, k or v (which) starting at sequence row `row0`, into a
// shared buffer of `stride`; rows past the sequence are zero, so that nothing past the end
// (possibly inf or NaN) is ever multiplied, even by a zero weight.
template <typename T>
BEIT_HD inline void beit_attn_load_tile(float* dst, int stride, int tile_rows, const T* qkv, int b, int row0,
                                        int rows_valid, int which, int head, int seq, int heads, int head_dim,
                                        int tid) {
    for (int e = tid; e < tile_rows * head_dim; e += BEIT_ATTN_THREADS) {
        const int i = e / head_dim, d = e % head_dim;
        dst[i * stride + d] =
            i < rows_valid ? beit_load(qkv + beit_qkv_offset(b, row0 + i, which, head, d, seq, heads, head_dim))
                           : 0.0f;
    }
}

// Phase 1: this thread's scores scale * q_i . k_j + bias(i, j) of the tile. Entries outside the
// valid rows or keys are 0 (finite, and never read as a weight: phases 2 and 3 stop at kn).
template <typename BT>
BEIT_HD inline void beit_attn_scores(float* smem, const BeitAttnSmem& L, const BT* bias, int bias_ld, int head,
                                     int q0, int qn, int k0, int kn, int seq, int head_dim, float scale, int tid) {
    const int j = tid % BEIT_ATTN_BK, i0 = tid / BEIT_ATTN_BK;
    float s[BEIT_ATTN_SCORE_ROWS];
    BEIT_UNROLL
    for (int r = 0; r < BEIT_ATTN_SCORE_ROWS; ++r) s[r] = 0.0f;
    const float* k = smem + L.kv + j * L.kv_stride;
    for (int d = 0; d < head_dim; ++d) {
        const float kd = k[d];
        BEIT_UNROLL
        for (int r = 0; r < BEIT_ATTN_SCORE_ROWS; ++r)
            s[r] = fmaf(smem[L.q + (i0 + BEIT_ATTN_SCORE_ROW_STEP * r) * head_dim + d], kd, s[r]);
    }
    BEIT_UNROLL
    for (int r = 0; r < BEIT_ATTN_SCORE_ROWS; ++r) {
        const int i = i0 + BEIT_ATTN_SCORE_ROW_STEP * r;
        float v = 0.0f;
        if (i < qn && j < kn) {
            v = s[r] * scale;
            if (bias) v += beit_load(bias + beit_bias_offset(head, q0 + i, k0 + j, seq, bias_ld));
        }
        smem[L.p + i * L.p_stride + j] = v;
    }
}

// Phase 2, threads 0..BQ-1: row tid's online softmax over the tile.
BEIT_HD inline void beit_attn_softmax(float* smem, const BeitAttnSmem& L, int kn, float* m, float* l, int tid) {
    if (tid < BEIT_ATTN_BQ) smem[L.alpha + tid] = beit_online_softmax_tile(smem + L.p + tid * L.p_stride, kn, m, l);
}

// Phase 3: acc = acc * alpha + P V for this thread's row and columns (V tile in the kv buffer).
BEIT_HD inline void beit_attn_accumulate(float* acc, const float* smem, const BeitAttnSmem& L, int kn,
                                         int head_dim, int tid) {
    const int i = tid / BEIT_ATTN_ACC_STEP, c0 = tid % BEIT_ATTN_ACC_STEP;
    const float alpha = smem[L.alpha + i];
    BEIT_UNROLL
    for (int k = 0; k < BEIT_ATTN_ACC_COLS; ++k) acc[k] *= alpha;
    const float* p = smem + L.p + i * L.p_stride;
    for (int j = 0; j < kn; ++j) {
        const float pj = p[j];
        const float* v = smem + L.kv + j * L.kv_stride;
        BEIT_UNROLL
        for (int k = 0; k < BEIT_ATTN_ACC_COLS; ++k) {
            const int c = c0 + BEIT_ATTN_ACC_STEP * k;
            if (c < head_dim) acc[k] = fmaf(pj, v[c], acc[k]);
        }
    }
}

// Last phase: this thread's context values acc / l into out's columns of the head.
template <typename T>
BEIT_HD inline void beit_attn_store(T* out, const float* acc, const float* smem, const BeitAttnSmem& L, int b,
                                    int head, int q0, int qn, int seq, int heads, int head_dim, int tid) {
    const int i = tid / BEIT_ATTN_ACC_STEP, c0 = tid % BEIT_ATTN_ACC_STEP;
    if (i >= qn) return;
    const float l = smem[L.l + i];
    BEIT_UNROLL
    for (int k = 0; k < BEIT_ATTN_ACC_COLS; ++k) {
        const int c = c0 + BEIT_ATTN_ACC_STEP * k;
        if (c < head_dim)
            beit_store(out + beit_context_offset(b, q0 + i, head, c, seq, heads, head_dim), beit_div_rn(acc[k], l));
    }
}

// ---- The tensor-core variant (attention_mma.cuh: f16 and bf16, head_dim a multiple of 16) ------
// block = BEIT_MMA_THREADS threads (4 warps, 16 query rows each); grid = (ceil(seq / BEIT_MMA_BQ),
// heads, batch); dynamic shared memory = beit_mma_shared_bytes(head_dim), over 48 KiB: the launch
// raises the kernel's limit (CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES).
constexpr int BEIT_MMA_THREADS = 128;
constexpr int BEIT_MMA_BQ = 64;
constexpr int BEIT_MMA_BK = 64;
constexpr int BEIT_MMA_WARP_ROWS = 16;  // one wmma tile of rows per warp
static_assert(BEIT_MMA_BQ == BEIT_MMA_WARP_ROWS * (BEIT_MMA_THREADS / 32), "each warp owns 16 query rows");
static_assert(BEIT_MMA_BK == 64, "the softmax gives each of 2 lanes per row 32 keys");

// Byte offsets of the buffers and their row strides in elements. Every stride keeps a 16-row step
// and a 16-column step a multiple of 32 bytes (what wmma's loads and stores need), and pads the rows
// so that the lanes of one wmma load do not all hit the same bank.
struct BeitMmaSmem {
    int q, k, v;  // BQ or BK rows of ld_t elements of the dtype (2 bytes): Q, K, V tiles
    int s;        // BQ x ld_s f32: scores
    int p;        // BQ x ld_p of the dtype: probabilities, the A operand of P V
    int o;        // BQ x ld_o f32: the running context
    int m, l, alpha;  // BQ f32 each: running max, running sum, this tile's rescale
    int total;
    int ld_t, ld_s, ld_p, ld_o;
};

BEIT_HD inline BeitMmaSmem beit_mma_smem(int head_dim) {
    BeitMmaSmem s;
    s.ld_t = head_dim + 8;
    s.ld_s = BEIT_MMA_BK + 4;
    s.ld_p = BEIT_MMA_BK + 8;
    s.ld_o = head_dim + 4;
    s.q = 0;
    s.k = s.q + BEIT_MMA_BQ * s.ld_t * 2;
    s.v = s.k + BEIT_MMA_BK * s.ld_t * 2;
    s.s = s.v + BEIT_MMA_BK * s.ld_t * 2;
    s.p = s.s + BEIT_MMA_BQ * s.ld_s * 4;
    s.o = s.p + BEIT_MMA_BQ * s.ld_p * 2;
    s.m = s.o + BEIT_MMA_BQ * s.ld_o * 4;
    s.l = s.m + BEIT_MMA_BQ * 4;
    s.alpha = s.l + BEIT_MMA_BQ * 4;
    s.total = s.alpha + BEIT_MMA_BQ * 4;
    return s;
}

// 72,448 bytes at head_dim 64, 113,408 at 128.
BEIT_HD inline int beit_mma_shared_bytes(int head_dim) { return beit_mma_smem(head_dim).total; }

// ---- The register-resident tensor-core variant (attention_flash.cuh: f16 and bf16, head_dim 32,
// 64 or 128) ----------------------------------------------------------------------------------
// block = 32 * warps threads (warps = 4 or 8, 16 query rows each); grid = (ceil(seq /
// beit_flash_block_q(warps)), heads, batch); dynamic shared memory = beit_flash_shared_bytes(head_dim,
// warps): the Q tile (16 * warps rows) and two buffers each of K and V (64 rows) of the 2-byte
// dtype, rows padded by 16 bytes so that ldmatrix's 8 row addresses fall in 8 different bank groups;
// then two tiles of the bias (16 * warps x 64), rows padded likewise, the second of which is the Q
// tile's buffer once Q is in registers where that is large enough (head_dim 64 and up). With 4
// warps: 44,032 bytes at 32, 55,296 at 64, 96,256 at 128.
constexpr int BEIT_FLASH_THREADS = 128;  // with 4 warps
constexpr int BEIT_FLASH_BLOCK = 64;     // keys a tile (and query rows a block with 4 warps)

BEIT_HD constexpr int beit_flash_block_q(int warps) { return 16 * warps; }

BEIT_HD constexpr int beit_flash_row_stride(int head_dim) { return head_dim + 8; }

// The bias tile's row stride in elements: 16-byte rows, and the 32-bit reads of one fragment row
// set (8 rows x 4 lanes) in 32 different banks.
BEIT_HD constexpr int beit_flash_bias_stride() { return BEIT_FLASH_BLOCK + 8; }

// Whether the Q tile's buffer holds a bias tile (the second one): rows as long.
BEIT_HD constexpr bool beit_flash_bias_in_q(int head_dim) {
    return beit_flash_row_stride(head_dim) >= beit_flash_bias_stride();
}

BEIT_HD constexpr int beit_flash_shared_bytes(int head_dim, int warps) {
    return (beit_flash_block_q(warps) * beit_flash_row_stride(head_dim) +
            4 * BEIT_FLASH_BLOCK * beit_flash_row_stride(head_dim) +
            (beit_flash_bias_in_q(head_dim) ? 1 : 2) * beit_flash_block_q(warps) * beit_flash_bias_stride()) *
           2;
}

// Whether the bias tiles may be copied 16 bytes at a time (cp.async): every row of 2-byte values
// starts on a 16-byte boundary. Otherwise they are copied a value at a time.
BEIT_HD inline bool beit_flash_bias_async(unsigned long long bias_address, int ld) {
    return bias_address % 16 == 0 && ld % 8 == 0;
}
