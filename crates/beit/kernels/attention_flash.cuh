// The register-resident tensor-core attention (FlashAttention-2's layout) for f16 and bf16 with
// head_dim 32, 64 or 128: what the BEiT checkpoints use. Every product is an mma.sync m16n8k16 whose
// fragments the kernel owns, so the scores, the probabilities and the running context never leave
// registers (the wmma kernel of attention_mma.cuh round-trips them through shared memory, its
// fragments being opaque), and K and V tiles are double-buffered with cp.async.
//
// One block is WARPS warps (4 or 8) over 16 * WARPS query rows of one (image, head); each warp owns 16
// rows. Per key tile of 64, for a warp: S = Q K^T (Q's fragments loaded once), s = S * scale + bias in log2 units,
// row max and sum over the 4 lanes that share a row (2 shuffles), P = exp2(s - m) rounded to the
// dtype straight into the A fragments of P V (the accumulator layout of two adjacent 8-key tiles is
// the A layout of one 16-key step), O = O * alpha + P V.
//
// Fragment layouts (PTX ISA, mma.m16n8k16; g = lane / 4, c = lane % 4):
//   A 16x16 row-major: a0 = A[g][2c..2c+1], a1 = A[g+8][2c..], a2 = A[g][2c+8..], a3 = A[g+8][2c+8..]
//   B 16x8 "col":      b0 = B[2c..2c+1][g], b1 = B[2c+8..2c+9][g]
//   C 16x8 f32:        c0, c1 = C[g][2c, 2c+1], c2, c3 = C[g+8][2c, 2c+1]
// Keys past the sequence score -inf and their V rows are zero (cp.async zero-fills); query rows past
// it compute on zeros and are never stored.
//
// The bias (in the dtype, [heads, S, S] with rows bias_ld apart) comes through shared memory like K
// and V: each tile's 64 x 64 block is copied with cp.async one tile ahead, so that its reads are
// coalesced and their latency hidden behind the previous tile's products (read from global memory
// per score, 64 scattered loads a thread and tile, they were the kernel's bottleneck). Where its rows
// are not 16-byte aligned (an odd bias_ld) the block is copied a value at a time instead.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "attention_tiles.cuh"

namespace beit_flash {

constexpr float LOG2E = 1.4426950408889634f;

// 16 bytes global -> shared, asynchronously; zero-filled (nothing read) when !valid.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    const int bytes = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Four 8x8 b16 matrices from shared memory; lane l gives the address of row l % 8 of matrix l / 8.
__device__ __forceinline__ void ldsm_x4(unsigned (&r)[4], const void* p) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

// The same, each matrix transposed.
__device__ __forceinline__ void ldsm_x4_trans(unsigned (&r)[4], const void* p) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

// c += A B for one 16x8 tile.
template <typename T>
__device__ __forceinline__ void mma(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    if constexpr (std::is_same<T, __nv_bfloat16>::value) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    } else {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
}

// Two floats rounded to the dtype, `lo` in the low half (the lower column of a fragment pair).
template <typename T>
__device__ __forceinline__ unsigned pack2(float lo, float hi) {
    if constexpr (std::is_same<T, __nv_bfloat16>::value) {
        __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<unsigned*>(&v);
    } else {
        __half2 v = __floats2half2_rn(lo, hi);
        return *reinterpret_cast<unsigned*>(&v);
    }
}

// A ROWS-row tile of q, k or v (which) from sequence row row0 into dst (row stride LD), asynchronously,
// by THREADS threads.
template <typename T, int D, int LD, int ROWS, int THREADS>
__device__ __forceinline__ void load_tile(T* dst, const T* __restrict__ qkv, int b, int row0, int rows_valid,
                                          int which, int head, int seq, int heads) {
    constexpr int CHUNKS = D / 8;  // 16-byte pieces a row
    for (int e = threadIdx.x; e < ROWS * CHUNKS; e += THREADS) {
        const int i = e / CHUNKS, c = (e % CHUNKS) * 8;
        const bool valid = i < rows_valid;
        const T* src = valid ? qkv + beit_qkv_offset(b, row0 + i, which, head, c, seq, heads, D) : qkv;
        cp_async16(dst + i * LD + c, src, valid);
    }
}

// Two adjacent 2-byte values (the lower address in `lo`) as floats.
template <typename T>
__device__ __forceinline__ void unpack2(unsigned v, float& lo, float& hi) {
    if constexpr (std::is_same<T, __nv_bfloat16>::value) {
        const float2 f = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&v));
        lo = f.x;
        hi = f.y;
    } else {
        const float2 f = __half22float2(*reinterpret_cast<__half2*>(&v));
        lo = f.x;
        hi = f.y;
    }
}

// The ROWS x 64 block of the bias at query rows row0.. and keys k0.. into dst (row stride
// beit_flash_bias_stride()), by THREADS threads; zeros past the sequence. Asynchronous (cp.async, 16
// bytes) when `async`, else copied a value at a time.
template <typename T, int ROWS, int THREADS>
__device__ __forceinline__ void load_bias_tile(T* dst, const T* __restrict__ bias, int head, int row0, int k0,
                                               int seq, int ld, bool async) {
    constexpr int LDB = beit_flash_bias_stride();
    constexpr int CHUNKS = BEIT_FLASH_BLOCK / 8;  // 16-byte pieces a row
    for (int e = threadIdx.x; e < ROWS * CHUNKS; e += THREADS) {
        const int i = e / CHUNKS, c = (e % CHUNKS) * 8;
        const int row = row0 + i, key = k0 + c;
        const bool valid = row < seq && key < seq;
        const T* src = valid ? bias + beit_bias_offset(head, row, key, seq, ld) : bias;
        if (async) {
            // A row's last piece may run past key S - 1 into the row's padding (ld is a multiple
            // of 8): read, and masked by the caller.
            cp_async16(dst + i * LDB + c, src, valid);
        } else {
#pragma unroll
            for (int u = 0; u < 8; ++u) beit_store(dst + i * LDB + c + u, valid && key + u < seq ? beit_load(src + u) : 0.0f);
        }
    }
}

// 2^x in one MUFU instruction, subnormal results flushed to 0 (weights under 2^-126 of the row's
// largest, which the sum of at least that one weight of 1 cannot see).
__device__ __forceinline__ float exp2_ftz(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// A warp's scores of one key tile scaled and biased in log2 units, s = S * scale2 + bias * log2(e),
// and each of the thread's two rows' maxima into tile_max. `bias_rows`: the thread's first row of the
// tile's bias block at its first key pair (null without a bias; its second row is 8 rows on); `key`:
// the sequence key of the thread's first column. MASK: keys at or past `seq` score -inf.
template <typename T, bool MASK>
__device__ __forceinline__ void scale_bias_max(float (&s)[8][4], float (&tile_max)[2], const T* bias_rows, int key,
                                               int seq, float scale2) {
    constexpr int LDB = beit_flash_bias_stride();
#pragma unroll
    for (int j = 0; j < 8; ++j) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            // The bias pair of a fragment row (keys 2c, 2c + 1) is one 32-bit shared read.
            float bias_pair[2] = {0.0f, 0.0f};
            if (bias_rows)
                unpack2<T>(*reinterpret_cast<const unsigned*>(bias_rows + 8 * r * LDB + 8 * j), bias_pair[0],
                           bias_pair[1]);
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int e = 2 * r + h;
                float v = fmaf(bias_pair[h], LOG2E, s[j][e] * scale2);
                if (MASK && key + 8 * j + h >= seq) v = -INFINITY;
                s[j][e] = v;
                tile_max[r] = fmaxf(tile_max[r], v);
            }
        }
    }
}

}  // namespace beit_flash

template <typename T, int D, int WARPS>
__device__ void beit_attention_flash(const T* __restrict__ qkv, const T* __restrict__ bias, T* __restrict__ out,
                                     int seq, int heads, int head_dim, int bias_ld, float scale) {
    using namespace beit_flash;
    (void)head_dim;  // D: the caller picked the kernel by it
    static_assert(D % 16 == 0 && D <= 128, "head sizes of 16k up to 128");
    constexpr int LD = beit_flash_row_stride(D);
    constexpr int BQ = beit_flash_block_q(WARPS);  // query rows, 16 a warp
    constexpr int THREADS = 32 * WARPS;
    constexpr int TILE = BEIT_FLASH_BLOCK * LD;    // a K or V tile
    constexpr int LDB = beit_flash_bias_stride();
    constexpr bool BIAS_IN_Q = beit_flash_bias_in_q(D);
    extern __shared__ __align__(128) unsigned char smem_bytes[];
    T* sq = reinterpret_cast<T*>(smem_bytes);
    T* sk = sq + BQ * LD;   // two buffers
    T* sv = sk + 2 * TILE;  // two buffers
    // Bias tile t is in sb0 when t is even, else in sb1: Q's buffer once every warp holds its Q
    // fragments. (Two pointers and a select: an indexed pair would live in local memory.)
    T* const sb0 = sv + 2 * TILE;
    T* const sb1 = BIAS_IN_Q ? sq : sb0 + BQ * LDB;
    const bool async_bias = bias && beit_flash_bias_async((unsigned long long)bias, bias_ld);

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, c = lane % 4;
    const int q_tile = blockIdx.x, head = blockIdx.y, b = blockIdx.z;
    const int q0 = q_tile * BQ;
    const int qn = beit_tile_rows(seq, q_tile, BQ);
    const int tiles = beit_tile_count(seq, BEIT_FLASH_BLOCK);
    // This thread's two query rows (g and g + 8 of the warp's 16), as sequence rows.
    const int rows[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};

    load_tile<T, D, LD, BQ, THREADS>(sq, qkv, b, q0, qn, 0, head, seq, heads);
    const int rows0 = beit_tile_rows(seq, 0, BEIT_FLASH_BLOCK);
    load_tile<T, D, LD, BEIT_FLASH_BLOCK, THREADS>(sk, qkv, b, 0, rows0, 1, head, seq, heads);
    load_tile<T, D, LD, BEIT_FLASH_BLOCK, THREADS>(sv, qkv, b, 0, rows0, 2, head, seq, heads);
    if (bias) load_bias_tile<T, BQ, THREADS>(sb0, bias, head, q0, 0, seq, bias_ld, async_bias);
    cp_async_commit();

    float o[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    unsigned qf[D / 16][4];
    const float scale2 = scale * LOG2E;

    for (int t = 0; t < tiles; ++t) {
        const int k0 = t * BEIT_FLASH_BLOCK;
        if (t + 1 < tiles) {
            // The other buffer: every warp finished with it at the end of the previous tile.
            const int next = (t + 1) & 1, rows_next = beit_tile_rows(seq, t + 1, BEIT_FLASH_BLOCK);
            const int k_next = k0 + BEIT_FLASH_BLOCK;
            load_tile<T, D, LD, BEIT_FLASH_BLOCK, THREADS>(sk + next * TILE, qkv, b, k_next, rows_next, 1, head, seq,
                                                           heads);
            load_tile<T, D, LD, BEIT_FLASH_BLOCK, THREADS>(sv + next * TILE, qkv, b, k_next, rows_next, 2, head, seq,
                                                           heads);
            // Bias tile 1 goes into Q's buffer, after Q is read (below).
            if (bias && !(BIAS_IN_Q && t == 0))
                load_bias_tile<T, BQ, THREADS>(next ? sb1 : sb0, bias, head, q0, k_next, seq, bias_ld, async_bias);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        if (t == 0) {
#pragma unroll
            for (int kk = 0; kk < D / 16; ++kk)
                ldsm_x4(qf[kk], sq + (warp * 16 + lane % 16) * LD + kk * 16 + (lane / 16) * 8);
            if (BIAS_IN_Q && bias && tiles > 1) {
                __syncthreads();  // every warp holds its Q fragments
                load_bias_tile<T, BQ, THREADS>(sb1, bias, head, q0, BEIT_FLASH_BLOCK, seq, bias_ld, async_bias);
                // Its own group, waited for with tile 1's K and V at the next step's wait<1>.
                cp_async_commit();
            }
        }
        const T* kt = sk + (t & 1) * TILE;
        const T* vt = sv + (t & 1) * TILE;
        const T* bt = (t & 1) ? sb1 : sb0;
        // A warp whose 16 rows all lie past the sequence (3 of 4 in BEiT-base's last query tile)
        // only helps load and meets the barriers; 16-key steps past it are skipped (the scores
        // there are -inf and the weights 0 either way).
        const int kn = beit_tile_rows(seq, t, BEIT_FLASH_BLOCK);
        if (warp * 16 < qn) {

            // S = Q K^T: 8 tiles of 8 keys.
            float s[8][4];
#pragma unroll
            for (int j = 0; j < 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
            for (int j2 = 0; j2 < 4; ++j2) {
                if (j2 * 16 >= kn) break;
#pragma unroll
                for (int kk = 0; kk < D / 16; ++kk) {
                    unsigned kb[4];
                    ldsm_x4(kb, kt + (j2 * 16 + lane % 8 + (lane / 16) * 8) * LD + kk * 16 + ((lane / 8) % 2) * 8);
                    mma<T>(s[2 * j2], qf[kk], kb[0], kb[1]);
                    mma<T>(s[2 * j2 + 1], qf[kk], kb[2], kb[3]);
                }
            }

            // Scale, bias and mask, in log2 units; the tile's row maxima. Only the last tile has
            // keys past the sequence to mask: the others take the branch-free copy.
            float tile_max[2] = {-INFINITY, -INFINITY};
            const T* bias_rows = bias ? bt + (warp * 16 + g) * LDB + 2 * c : nullptr;
            if (k0 + BEIT_FLASH_BLOCK <= seq)
                scale_bias_max<T, false>(s, tile_max, bias_rows, k0 + 2 * c, seq, scale2);
            else
                scale_bias_max<T, true>(s, tile_max, bias_rows, k0 + 2 * c, seq, scale2);
            float m_use[2], alpha[2];
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 1));
                tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 2));
                const float m_new = fmaxf(m[r], tile_max[r]);
                // No finite score yet (a fully masked prefix): nothing has weight, and -inf - -inf is NaN.
                m_use[r] = m_new == -INFINITY ? 0.0f : m_new;
                alpha[r] = exp2_ftz(m[r] - m_use[r]);
                m[r] = m_new;
            }
            float sum[2] = {0.0f, 0.0f};
#pragma unroll
            for (int j = 0; j < 8; ++j) {
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    s[j][e] = exp2_ftz(s[j][e] - m_use[e >> 1]);
                    sum[e >> 1] += s[j][e];
                }
            }
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                sum[r] += __shfl_xor_sync(0xffffffffu, sum[r], 1);
                sum[r] += __shfl_xor_sync(0xffffffffu, sum[r], 2);
                l[r] = l[r] * alpha[r] + sum[r];
            }
#pragma unroll
            for (int n = 0; n < D / 8; ++n) {
                o[n][0] *= alpha[0];
                o[n][1] *= alpha[0];
                o[n][2] *= alpha[1];
                o[n][3] *= alpha[1];
            }

            // O += P V: 4 steps of 16 keys; V read transposed as the B operand.
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) {
                if (kk * 16 >= kn) break;
                const unsigned pa[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                                        pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                        pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
                for (int n2 = 0; n2 < D / 16; ++n2) {
                    unsigned vb[4];
                    ldsm_x4_trans(vb, vt + (kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * LD + n2 * 16 + (lane / 16) * 8);
                    mma<T>(o[2 * n2], pa, vb[0], vb[1]);
                    mma<T>(o[2 * n2 + 1], pa, vb[2], vb[3]);
                }
            }
        }
        __syncthreads();  // every warp is done with this tile's buffers before they are refilled
    }

    // out = O / l, two values a store.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        if (rows[r] >= q0 + qn) continue;
#pragma unroll
        for (int n = 0; n < D / 8; ++n) {
            const int d = 8 * n + 2 * c;
            const unsigned v = pack2<T>(beit_div_rn(o[n][2 * r], l[r]), beit_div_rn(o[n][2 * r + 1], l[r]));
            *reinterpret_cast<unsigned*>(out + beit_context_offset(b, rows[r], head, d, seq, heads, D)) = v;
        }
    }
}
