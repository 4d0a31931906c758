// Shared by every BEiT kernel: the host/device qualifier, f32 load/store per dtype, exact GELU.
//
// The headers of this folder are also compiled as plain C++ (g++) by the host-side check
// (crates/kernel-check), which runs the same arithmetic serially on the CPU; so everything here
// outside `#ifdef __CUDACC__` must be valid standard C++17.
#pragma once

#include <math.h>

#ifdef __CUDACC__
#define BEIT_HD __host__ __device__
#else
#define BEIT_HD
#endif

// Full unrolling where a loop indexes a per-thread array, so the array lives in registers; g++
// (the host check) does not know the pragma.
#ifdef __CUDA_ARCH__
#define BEIT_UNROLL _Pragma("unroll")
#else
#define BEIT_UNROLL
#endif

#ifndef M_SQRT1_2
#define M_SQRT1_2 0.70710678118654752440
#endif

// a / b: to 2 ulp on the GPU (a reciprocal and a product), IEEE on the host. For quotients whose
// divisor stays far from 0 and from overflow, where the IEEE division's extra steps buy nothing.
BEIT_HD inline float beit_div_fast(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fdividef(a, b);
#else
    return a / b;
#endif
}

// erf as Eigen's generic_fast_erf_float, the CPU's ops::gelu::erf_f32 with the same coefficients:
// within a few f32 ulp of erf, in 12 FMAs and a division where libdevice's erff takes about 25
// instructions (fc1's GELU pass over 40 million values at batch 64 was bound by them as much as by
// memory). The denominator is in [-0.0143, -0.0040] over the clamped range.
BEIT_HD inline float beit_erf(float x) {
    x = fminf(fmaxf(x, -4.0f), 4.0f);  // erf(+-4) is +-1 in f32; a NaN becomes -4 (GELU multiplies by x)
    const float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = fmaf(p, x2, 2.77068142495902e-08f);
    p = fmaf(p, x2, -2.10102402082508e-06f);
    p = fmaf(p, x2, -5.69250639462346e-05f);
    p = fmaf(p, x2, -7.34990630326855e-04f);
    p = fmaf(p, x2, -2.95459980854025e-03f);
    p = fmaf(p, x2, -1.60960333262415e-02f);
    float q = -1.45660718464996e-05f;
    q = fmaf(q, x2, -2.13374055278905e-04f);
    q = fmaf(q, x2, -1.68282697438203e-03f);
    q = fmaf(q, x2, -7.37332916720468e-03f);
    q = fmaf(q, x2, -1.42647390514189e-02f);
    return beit_div_fast(x * p, q);
}

// Exact (erf) GELU, as HF's `gelu` and torch's default: not the tanh approximation that cuBLASLt's
// epilogue computes, which is off by up to 1e-3.
BEIT_HD inline float beit_gelu_erf(float x) {
    return 0.5f * x * (1.0f + beit_erf(x * (float)M_SQRT1_2));
}

// IEEE-rounded division and square root even if a build passes --use_fast_math: the image
// normalize must equal the CPU's f32 division bit for bit, and LayerNorm's 1/sqrt(var + eps)
// should not depend on compiler flags.
BEIT_HD inline float beit_div_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}

BEIT_HD inline float beit_sqrt_rn(float a) {
#ifdef __CUDA_ARCH__
    return __fsqrt_rn(a);
#else
    return sqrtf(a);
#endif
}

// Every kernel computes in f32: values are widened on load and rounded (to nearest even) on store.
// The f32 pair is host and device, so the tile code templated over T runs in the host check too.
BEIT_HD inline float beit_load(const float* p) { return *p; }
BEIT_HD inline void beit_store(float* p, float v) { *p = v; }

#ifdef __CUDACC__
#include <cuda_bf16.h>
#include <cuda_fp16.h>

__device__ __forceinline__ float beit_load(const __half* p) { return __half2float(*p); }
__device__ __forceinline__ float beit_load(const __nv_bfloat16* p) { return __bfloat162float(*p); }

__device__ __forceinline__ void beit_store(__half* p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void beit_store(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

// Sum over the 32 lanes of a warp by xor butterfly: every lane ends with the result, and
// the order of additions is fixed (the host check replays it, see layer_norm_row.cuh).
__device__ __forceinline__ float beit_warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}
#endif

// The epilogue kernel's (epilogue.cu) block, and the vectors a thread loads before it computes any:
// with one 16-byte load in flight a thread, fc1's GELU pass (77 MB in and out at batch 64) ran at
// half the memory's bandwidth.
constexpr int BEIT_EPILOGUE_THREADS = 256;
constexpr int BEIT_EPILOGUE_UNROLL = 4;

// One element of a linear layer's epilogue: act(x + bias) + residual, rounded once by the caller.
// has_bias / has_residual say whether the operand exists (its value is ignored otherwise).
BEIT_HD inline float beit_epilogue_value(float x, float bias, bool has_bias, float residual, bool has_residual,
                                         bool gelu) {
    float v = has_bias ? x + bias : x;
    if (gelu) v = beit_gelu_erf(v);
    return has_residual ? v + residual : v;
}
