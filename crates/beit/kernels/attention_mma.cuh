// The tensor-core variant of the fused attention (attention.cu), for f16 and bf16 with head_dim a
// multiple of 16 up to 128: Q K^T and P V are wmma products (16x16x16 tiles, f32 accumulators), the
// biased online softmax stays f32 on the CUDA cores. The SIMT kernel of attention_tiles.cuh does
// every product as scalar FMAs; on BEiT-base that was most of a forward's time.
//
// One block is 4 warps over 64 query rows of one (image, head); each warp owns 16 rows: its scores,
// probabilities and running context, so warps meet only at the K and V tiles they share.
// Per key tile of 64:
//   S = Q K^T (wmma, f32) -> per row: s = scale * S + bias, running max m and sum l (2 lanes a row,
//   32 keys each), P = exp(s - m) rounded to the dtype -> O *= exp(m_old - m) -> O += P V (wmma).
// Keys past the sequence score -inf (weight 0), and their V rows are zero; query rows past it are
// computed as zeros and never stored. P is rounded to the dtype for its product, as in PyTorch's
// flash and memory-efficient kernels; its sum l is taken before rounding.
//
// Device-only (wmma), so the host check (crates/kernel-check) compiles its geometry only:
// beit_mma_smem and the launch constants in attention_tiles.cuh.
#pragma once

#include <mma.h>

#include "attention_tiles.cuh"

// Rows [0, rows_valid) of a q, k or v tile (which) from sequence row row0 into `dst` (row stride
// ld elements), 8 elements (16 bytes) a load; rows past the sequence are zero. The caller checked
// that qkv is 16-byte aligned and head_dim a multiple of 16, so every load is aligned.
template <typename T>
__device__ __forceinline__ void beit_mma_load_tile(T* dst, int ld, int tile_rows, const T* __restrict__ qkv, int b,
                                                   int row0, int rows_valid, int which, int head, int seq, int heads,
                                                   int head_dim) {
    const int chunks = head_dim / 8;
    for (int e = threadIdx.x; e < tile_rows * chunks; e += BEIT_MMA_THREADS) {
        const int i = e / chunks, c = (e % chunks) * 8;
        uint4 v = make_uint4(0u, 0u, 0u, 0u);
        if (i < rows_valid)
            v = *reinterpret_cast<const uint4*>(qkv + beit_qkv_offset(b, row0 + i, which, head, c, seq, heads, head_dim));
        *reinterpret_cast<uint4*>(dst + i * ld + c) = v;
    }
}

template <typename T>
__device__ void beit_attention_mma(const T* __restrict__ qkv, const T* __restrict__ bias, T* __restrict__ out,
                                   int seq, int heads, int head_dim, int bias_ld, float scale) {
    using namespace nvcuda;
    extern __shared__ __align__(128) unsigned char smem_bytes[];
    const BeitMmaSmem L = beit_mma_smem(head_dim);
    T* sq = reinterpret_cast<T*>(smem_bytes + L.q);
    T* sk = reinterpret_cast<T*>(smem_bytes + L.k);
    T* sv = reinterpret_cast<T*>(smem_bytes + L.v);
    float* ss = reinterpret_cast<float*>(smem_bytes + L.s);
    T* sp = reinterpret_cast<T*>(smem_bytes + L.p);
    float* so = reinterpret_cast<float*>(smem_bytes + L.o);
    float* sm = reinterpret_cast<float*>(smem_bytes + L.m);
    float* sl = reinterpret_cast<float*>(smem_bytes + L.l);
    float* salpha = reinterpret_cast<float*>(smem_bytes + L.alpha);

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int q_tile = blockIdx.x, head = blockIdx.y, b = blockIdx.z;
    const int q0 = q_tile * BEIT_MMA_BQ;
    const int qn = beit_tile_rows(seq, q_tile, BEIT_MMA_BQ);
    const int row0 = warp * BEIT_MMA_WARP_ROWS;

    beit_mma_load_tile(sq, L.ld_t, BEIT_MMA_BQ, qkv, b, q0, qn, 0, head, seq, heads, head_dim);
    for (int e = tid; e < BEIT_MMA_BQ * L.ld_o; e += BEIT_MMA_THREADS) so[e] = 0.0f;
    if (tid < BEIT_MMA_BQ) {
        sm[tid] = -INFINITY;
        sl[tid] = 0.0f;
    }

    const int tiles = beit_tile_count(seq, BEIT_MMA_BK);
    for (int t = 0; t < tiles; ++t) {
        const int k0 = t * BEIT_MMA_BK;
        const int kn = beit_tile_rows(seq, t, BEIT_MMA_BK);
        __syncthreads();  // every warp is done with the previous K and V (on t = 0: Q, O, m, l set)
        beit_mma_load_tile(sk, L.ld_t, BEIT_MMA_BK, qkv, b, k0, kn, 1, head, seq, heads, head_dim);
        beit_mma_load_tile(sv, L.ld_t, BEIT_MMA_BK, qkv, b, k0, kn, 2, head, seq, heads, head_dim);
        __syncthreads();

        // S = Q K^T for this warp's 16 rows: K [key][d] read as the column-major B operand.
        for (int j = 0; j < BEIT_MMA_BK / 16; ++j) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
            wmma::fill_fragment(c, 0.0f);
            for (int kk = 0; kk < head_dim; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> bk;
                wmma::load_matrix_sync(a, sq + row0 * L.ld_t + kk, L.ld_t);
                wmma::load_matrix_sync(bk, sk + (j * 16) * L.ld_t + kk, L.ld_t);
                wmma::mma_sync(c, a, bk, c);
            }
            wmma::store_matrix_sync(ss + row0 * L.ld_s + j * 16, c, L.ld_s, wmma::mem_row_major);
        }
        __syncwarp();

        // The online softmax: lanes 2r and 2r+1 take row r's keys [0, 32) and [32, 64); the column
        // order is rotated by the row so that the 16 rows' lanes read different banks.
        {
            const int r = row0 + lane / 2, half = lane & 1;
            const bool row_valid = r < qn;
            float* srow = ss + r * L.ld_s;
            float tile_max = -INFINITY;
            for (int c = 0; c < 32; ++c) {
                const int j = half * 32 + ((c + r) & 31);
                float v = -INFINITY;
                if (row_valid && j < kn) {
                    v = srow[j] * scale;
                    if (bias) v += beit_load(bias + beit_bias_offset(head, q0 + r, k0 + j, seq, bias_ld));
                }
                srow[j] = v;
                tile_max = fmaxf(tile_max, v);
            }
            tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
            const float m_old = sm[r];
            const float m_new = fmaxf(m_old, tile_max);
            // A row with no finite score yet (past the sequence, or masked so far) has no weight.
            const float m_use = m_new == -INFINITY ? 0.0f : m_new;
            const float alpha = expf(m_old - m_use);
            float sum = 0.0f;
            T* prow = sp + r * L.ld_p;
            for (int c = 0; c < 32; ++c) {
                const int j = half * 32 + ((c + r) & 31);
                const float p = expf(srow[j] - m_use);
                sum += p;
                beit_store(prow + j, p);
            }
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            __syncwarp();  // both lanes of a row have read m before one of them writes it
            if (half == 0) {
                sm[r] = m_new;
                sl[r] = sl[r] * alpha + sum;
                salpha[r] = alpha;
            }
        }
        __syncwarp();

        // O = O * alpha, row by row (a wmma accumulator's element order is opaque, so in shared).
        for (int e = lane; e < BEIT_MMA_WARP_ROWS * head_dim; e += 32) {
            const int r = row0 + e / head_dim, c = e % head_dim;
            so[r * L.ld_o + c] *= salpha[r];
        }
        __syncwarp();

        // O += P V for this warp's rows.
        for (int n = 0; n < head_dim; n += 16) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::load_matrix_sync(acc, so + row0 * L.ld_o + n, L.ld_o, wmma::mem_row_major);
            for (int kk = 0; kk < BEIT_MMA_BK; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> bv;
                wmma::load_matrix_sync(a, sp + row0 * L.ld_p + kk, L.ld_p);
                wmma::load_matrix_sync(bv, sv + kk * L.ld_t + n, L.ld_t);
                wmma::mma_sync(acc, a, bv, acc);
            }
            wmma::store_matrix_sync(so + row0 * L.ld_o + n, acc, L.ld_o, wmma::mem_row_major);
        }
        __syncwarp();
    }

    // out = O / l for this warp's valid rows.
    for (int e = lane; e < BEIT_MMA_WARP_ROWS * head_dim; e += 32) {
        const int r = row0 + e / head_dim, c = e % head_dim;
        if (r < qn)
            beit_store(out + beit_context_offset(b, q0 + r, head, c, seq, heads, head_dim),
                       beit_div_rn(so[r * L.ld_o + c], sl[r]));
    }
}
