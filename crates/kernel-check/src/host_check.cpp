// Serial host emulations of the CUDA kernels in crates/beit/kernels, built from the same header
// functions the kernels call. Each emulation runs a kernel's phases in order for every block and
// every thread of the block, which is what the kernel's __syncthreads guarantee, so a wrong index
// map, tile bound or shared-memory layout shows up here as a wrong number.
#include <vector>

#include "attention_tiles.cuh"
#include "layer_norm_row.cuh"
#include "preprocess_math.cuh"

namespace {

// One block of beit_attention: query tile q_tile of (image b, head).
void attention_block(const float* qkv, const float* bias, int bias_ld, float* out, int b, int head, int q_tile,
                     int seq, int heads, int head_dim, float scale) {
    const BeitAttnSmem L = beit_attention_smem(head_dim);
    std::vector<float> smem(L.total, NAN);  // NaN: anything read before written poisons the result
    const int q0 = q_tile * BEIT_ATTN_BQ;
    const int qn = beit_tile_rows(seq, q_tile, BEIT_ATTN_BQ);
    std::vector<float> m(BEIT_ATTN_THREADS, -INFINITY), l(BEIT_ATTN_THREADS, 0.0f);
    std::vector<float> acc(BEIT_ATTN_THREADS * BEIT_ATTN_ACC_COLS, 0.0f);
    for (int tid = 0; tid < BEIT_ATTN_THREADS; ++tid)
        beit_attn_load_tile(smem.data() + L.q, head_dim, BEIT_ATTN_BQ, qkv, b, q0, qn, 0, head, seq, heads, head_dim,
                            tid);
    for (int t = 0; t < beit_tile_count(seq, BEIT_ATTN_BK); ++t) {
        const int k0 = t * BEIT_ATTN_BK;
        const int kn = beit_tile_rows(seq, t, BEIT_ATTN_BK);
        for (int tid = 0; tid < BEIT_ATTN_THREADS; ++tid)
            beit_attn_load_tile(smem.data() + L.kv, L.kv_stride, BEIT_ATTN_BK, qkv, b, k0, kn, 1, head, seq, heads,
                                head_dim, tid);
        for (int tid = 0; tid < BEIT_ATTN_THREADS; ++tid)
            beit_attn_scores(smem.data(), L, bias, bias_ld, head, q0, qn, k0, kn, seq, head_dim, scale, tid);
        // Softmax and the V load run concurrently in the kernel: they touch disjoint buffers.
        for (int tid = 0; tid < BEIT_ATTN_THREADS; ++tid) {
            beit_attn_softmax(smem.data(), L, kn, &m[tid], &l[tid], tid);
            beit_attn_load_tile(smem.data() + L.kv, L.kv_stride, BEIT_ATTN_BK, qkv, b, k0, kn, 2, head, seq, heads,
                                head_dim, tid);
        }
        for (int tid = 0; tid < BEIT_ATTN_THREADS; ++tid)
            beit_attn_accumulate(&acc[tid * BEIT_ATTN_ACC_COLS], smem.data(), L, kn, head_dim, tid);
    }
    for (int tid = 0; tid < BEIT_ATTN_BQ; ++tid) smem[L.l + tid] = l[tid];
    for (int tid = 0; tid < BEIT_ATTN_THREADS; ++tid)
        beit_attn_store(out, &acc[tid * BEIT_ATTN_ACC_COLS], smem.data(), L, b, head, q0, qn, seq, heads, head_dim,
                        tid);
}

// beit_warp_sum's xor butterfly over 32 lanes: every lane ends with the same sum.
float warp_sum(float* lanes) {
    for (int offset = 16; offset > 0; offset >>= 1) {
        float next[32];
        for (int i = 0; i < 32; ++i) next[i] = lanes[i] + lanes[i ^ offset];
        for (int i = 0; i < 32; ++i) lanes[i] = next[i];
    }
    return lanes[0];
}

// layer_norm.cu's beit_block_sum over every thread's partial.
float block_sum(const float* partials) {
    float warps[32] = {0.0f};
    for (int w = 0; w < BEIT_LN_WARPS; ++w) {
        float lanes[32];
        for (int i = 0; i < 32; ++i) lanes[i] = partials[w * 32 + i];
        warps[w] = warp_sum(lanes);
    }
    return warp_sum(warps);
}

}  // namespace

extern "C" {

void beit_host_attention(const float* qkv, const float* bias, float* out, int batch, int seq, int heads,
                         int head_dim, int bias_ld, float scale) {
    for (int b = 0; b < batch; ++b)
        for (int head = 0; head < heads; ++head)
            for (int q_tile = 0; q_tile < beit_tile_count(seq, BEIT_ATTN_BQ); ++q_tile)
                attention_block(qkv, bias, bias_ld, out, b, head, q_tile, seq, heads, head_dim, scale);
}

int beit_host_bias_offset(int head, int i, int j, int seq, int ld) {
    return (int)beit_bias_offset(head, i, j, seq, ld);
}

int beit_host_flash_bias_async(unsigned long long address, int ld) { return beit_flash_bias_async(address, ld); }

int beit_host_attention_shared_bytes(int head_dim) { return beit_attention_shared_bytes(head_dim); }

int beit_host_flash_shared_bytes(int head_dim, int warps) { return beit_flash_shared_bytes(head_dim, warps); }

int beit_host_flash_row_stride(int head_dim) { return beit_flash_row_stride(head_dim); }

int beit_host_flash_bias_stride() { return beit_flash_bias_stride(); }

// The tensor-core kernel's layout: its total bytes, and the byte offsets of its buffers and the
// byte length of 16 rows of each (what wmma needs 32-byte aligned), in this order:
// q, k, v, s, p, o, m, then 16 rows of the T tiles, of s, of p, of o; then the total.
void beit_host_mma_smem(int head_dim, int* out) {
    const BeitMmaSmem L = beit_mma_smem(head_dim);
    const int values[] = {L.q,  L.k, L.v, L.s, L.p, L.o, L.m, 16 * L.ld_t * 2, 16 * L.ld_s * 4, 16 * L.ld_p * 2,
                          16 * L.ld_o * 4, L.total};
    for (int i = 0; i < 12; ++i) out[i] = values[i];
}

// The block and tile sizes the kernels are written for, in the order of kernel_check::LaunchConstants.
void beit_host_launch_constants(int* out) {
    out[0] = BEIT_ATTN_THREADS;
    out[1] = BEIT_ATTN_BQ;
    out[2] = BEIT_ATTN_MAX_HEAD_DIM;
    out[3] = BEIT_LN_THREADS;
    out[4] = BEIT_PREPROCESS_THREADS;
    out[5] = BEIT_MMA_THREADS;
    out[6] = BEIT_MMA_BQ;
    out[7] = BEIT_LN_ROWS;
    out[8] = BEIT_FLASH_THREADS;
    out[9] = BEIT_FLASH_BLOCK;
    out[10] = BEIT_EPILOGUE_THREADS;
    out[11] = BEIT_EPILOGUE_UNROLL;
}

void beit_host_layer_norm(const float* x, const float* weight, const float* bias, float* y, int rows, int dim,
                          float eps) {
    float partials[BEIT_LN_THREADS];
    for (int r = 0; r < rows; ++r) {
        const float* row = x + (long long)r * dim;
        for (int tid = 0; tid < BEIT_LN_THREADS; ++tid) partials[tid] = beit_ln_partial_sum(row, dim, tid);
        const float mean = beit_div_rn(block_sum(partials), (float)dim);
        for (int tid = 0; tid < BEIT_LN_THREADS; ++tid) partials[tid] = beit_ln_partial_centred(row, dim, mean, tid);
        const float inv_std = beit_ln_inv_std(block_sum(partials), dim, eps);
        for (int c = 0; c < dim; ++c)
            y[(long long)r * dim + c] = beit_ln_value(row[c], mean, inv_std, weight[c], bias[c]);
    }
}

void beit_host_bias_act_residual(const float* x, const float* bias, const float* residual, float* y, int rows,
                                 int n, int gelu) {
    const long long total = (long long)rows * n;
    for (long long e = 0; e < total; ++e) {
        const float b = bias ? bias[e % n] : 0.0f;
        const float r = residual ? residual[e] : 0.0f;
        y[e] = beit_epilogue_value(x[e], b, bias != nullptr, r, residual != nullptr, gelu != 0);
    }
}

void beit_host_resample_h_u8(const unsigned char* src, unsigned char* dst, int batch, int h, int w, int out_w,
                             int channels, const int* bounds, const int* coeffs, int ksize) {
    const long long n = (long long)batch * h * out_w * channels;
    for (long long e = 0; e < n; ++e) dst[e] = beit_resample_h_at(src, e, w, out_w, channels, bounds, coeffs, ksize);
}

void beit_host_resample_v_u8(const unsigned char* src, unsigned char* dst, int batch, int h, int w, int out_h,
                             int channels, const int* bounds, const int* coeffs, int ksize) {
    const long long n = (long long)batch * out_h * w * channels;
    for (long long e = 0; e < n; ++e)
        dst[e] = beit_resample_v_at(src, e, h, w, out_h, channels, bounds, coeffs, ksize);
}

void beit_host_normalize_f32(const unsigned char* src, float* dst, int batch, int h, int w, int channels, int top,
                             int left, int out_h, int out_w, const double* factor, const float* mean,
                             const float* std, int do_rescale, int do_normalize) {
    const long long n = (long long)batch * channels * out_h * out_w;
    for (long long e = 0; e < n; ++e)
        dst[e] = beit_normalize_at(src, e, h, w, channels, top, left, out_h, out_w, factor, mean, std, do_rescale,
                                   do_normalize);
}

}  // extern "C"
