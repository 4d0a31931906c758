//! AVX2 with FMA (Haswell and later, Zen): the int8 kernels (`vpmaddubsw` and `vpmaddwd`, or one
//! `vpdpbusd` per group with AVX-VNNI) and the bf16 ones (pairs unpacked to f32). The tables that
//! choose them are in `cpu::arch::native`.

/// The int8 kernels: `vpmaddubsw` multiplies 32 unsigned activation bytes by 32 signed weight
/// bytes into i16 pair sums, two such products (eight inputs) are added in i16, and `vpmaddwd`
/// widens them to i32. The multiplies bound the kernel, and adding in i16 saves a quarter of them;
/// it takes activations in 0..=127 and weights in -63..=63, so that four products (at most 4 x 127
/// x 63 = 32004) fit an i16, as onnxruntime's `reduce_range` does for CPUs without VNNI. With
/// AVX-VNNI (`CpuLevel::AvxVnni`) the three instructions per two groups become one `vpdpbusd` per
/// group, into the same i32 sums.
pub(crate) mod int8 {
    use std::arch::x86_64::*;

    use crate::cpu::gemm::int8::{Args, Epilogue, KG, MR};
    use crate::cpu::gemm::tile_layout::NR;

    /// The microkernel with the epilogue in registers, for a whole tile of `NR` channels.
    ///
    /// # Safety
    /// As `microkernel`; `e.dst` points to `mr` rows of at least `NR` writable values at `e.stride`,
    /// written by no one else; `e.quants` has `mr` entries and the other slices `NR`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn microkernel_into(args: Args, e: &Epilogue) {
        // The same `by_rows!` as in `microkernel`, on purpose: a shared helper returning the sums
        // is not inlined into both callers, and its result then goes through memory on every call.
        by_rows!(args.mr, R => epilogue(&rows::<R>(args), e))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn epilogue<const R: usize>(acc: &[[__m256i; 2]; R], e: &Epilogue) {
        for (r, (acc, q)) in acc.iter().zip(e.quants).enumerate() {
            let (zero, scale) = (_mm256_set1_epi32(q.zero), _mm256_set1_ps(q.scale));
            for (half, &sums) in acc.iter().enumerate() {
                let at = 8 * half;
                let weight_sums = _mm256_loadu_si256(e.weight_sums.as_ptr().add(at) as *const __m256i);
                let s = _mm256_sub_epi32(sums, _mm256_mullo_epi32(zero, weight_sums));
                let mut y = _mm256_mul_ps(_mm256_cvtepi32_ps(s), scale);
                y = _mm256_mul_ps(y, _mm256_loadu_ps(e.scales.as_ptr().add(at)));
                y = _mm256_add_ps(y, _mm256_loadu_ps(e.bias.as_ptr().add(at)));
                let dst = e.dst.add(r * e.stride + at);
                if e.accumulate {
                    y = _mm256_add_ps(_mm256_loadu_ps(dst), y);
                }
                _mm256_storeu_ps(dst, y);
            }
        }
    }

    /// # Safety
    /// AVX2 is available; `x` holds `mr` rows of `KG * k_groups` values at stride `k_pad`, `w` a
    /// packed tile of `k_groups` groups, an even number; weights in -63..=63, activations in
    /// 0..=127.
    #[target_feature(enable = "avx2")]
    pub unsafe fn microkernel(args: Args, sums: &mut [[i32; NR]; MR]) {
        by_rows!(args.mr, R => store(&rows::<R>(args), sums))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn store<const R: usize>(acc: &[[__m256i; 2]; R], sums: &mut [[i32; NR]; MR]) {
        for (acc, sums) in acc.iter().zip(sums.iter_mut()) {
            _mm256_storeu_si256(sums.as_mut_ptr() as *mut __m256i, acc[0]);
            _mm256_storeu_si256(sums.as_mut_ptr().add(8) as *mut __m256i, acc[1]);
        }
    }

    /// `microkernel_into` through AVX-VNNI (`rows_vnni`).
    ///
    /// # Safety
    /// As `microkernel_into`, and AVX-VNNI is present.
    #[target_feature(enable = "avx2,avxvnni")]
    pub unsafe fn microkernel_into_vnni(args: Args, e: &Epilogue) {
        by_rows!(args.mr, R => epilogue(&rows_vnni::<R>(args), e))
    }

    /// `microkernel` through AVX-VNNI (`rows_vnni`).
    ///
    /// # Safety
    /// As `microkernel`, and AVX-VNNI is present.
    #[target_feature(enable = "avx2,avxvnni")]
    pub unsafe fn microkernel_vnni(args: Args, sums: &mut [[i32; NR]; MR]) {
        by_rows!(args.mr, R => store(&rows_vnni::<R>(args), sums))
    }

    /// `rows` with AVX-VNNI: one `vpdpbusd` takes a group's four byte products per lane and adds
    /// them into i32 at once, where `rows` needs `vpmaddubsw`, an i16 add and `vpmaddwd` for two
    /// groups. The sums are the same integers, so the results are the same bits.
    #[target_feature(enable = "avx2,avxvnni")]
    #[inline]
    unsafe fn rows_vnni<const R: usize>(args: Args) -> [[__m256i; 2]; R] {
        // The closure has this function's features (AVX-VNNI), which `by_steps` has not.
        by_steps(args, |acc, a, b, [w0, w1, w2, w3]| {
            acc[0] = _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(acc[0], a, w0), b, w2);
            acc[1] = _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(acc[1], a, w1), b, w3);
        })
    }

    /// The i32 sums of `R` rows by one tile, in registers: two groups of four inputs per step,
    /// their byte products added in i16 (no overflow: see the module comment).
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn rows<const R: usize>(args: Args) -> [[__m256i; 2]; R] {
        let ones = _mm256_set1_epi16(1);
        by_steps(args, |acc, a, b, [w0, w1, w2, w3]| {
            let p0 = _mm256_add_epi16(_mm256_maddubs_epi16(a, w0), _mm256_maddubs_epi16(b, w2));
            let p1 = _mm256_add_epi16(_mm256_maddubs_epi16(a, w1), _mm256_maddubs_epi16(b, w3));
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(p0, ones));
            acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(p1, ones));
        })
    }

    /// The loop of `rows` and `rows_vnni`: per pair of groups `g`, `g + 1` and per row,
    /// `step(acc, a, b, w)` adds the row's inputs of group g (`a`) and g + 1 (`b`), each one i32
    /// in every lane, times the groups' weights `w` (channels 0..8 and 8..16 of g, then of g + 1)
    /// into the row's two accumulators (channels 0..8, 8..16). Inlined into its callers, whose
    /// vector features it takes.
    #[inline(always)]
    unsafe fn by_steps<const R: usize>(
        args: Args,
        step: impl Fn(&mut [__m256i; 2], __m256i, __m256i, [__m256i; 4]),
    ) -> [[__m256i; 2]; R] {
        let Args {
            x,
            k_pad,
            w,
            k_groups,
            ..
        } = args;
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        let load =
            |g: usize, half: usize| _mm256_loadu_si256(w.add(g * KG * NR + 32 * half) as *const __m256i);
        for g in (0..k_groups).step_by(2) {
            let weights = [load(g, 0), load(g, 1), load(g + 1, 0), load(g + 1, 1)];
            for (r, acc) in acc.iter_mut().enumerate() {
                // Inputs 4g..4g+4 and 4g+4..4g+8 of row r, each as one i32 in every lane.
                let at = x.add(r * k_pad + KG * g) as *const i32;
                let (a, b) = (
                    _mm256_set1_epi32(at.read_unaligned()),
                    _mm256_set1_epi32(at.add(1).read_unaligned()),
                );
                step(acc, a, b, weights);
            }
        }
        acc
    }
}

/// For CPUs that cannot multiply bf16 (AVX2 and FMA only: Zen 3, Haswell to Ice Lake clients): a
/// bf16 value is the top half of an f32, so each 32-bit lane of the packed pairs gives its even
/// input's weight shifted up and its odd input's masked, and the multiply-adds are f32's. Two
/// shifts and two masks per pair of inputs for sixteen multiply-adds: float32's speed with half its
/// weight traffic (the portable loop, which converts every weight once per row, was several times
/// slower than float32).
pub(crate) mod bf16 {
    use std::arch::x86_64::*;

    use crate::cpu::gemm::bf16::{Args, MR};
    use crate::cpu::gemm::tile_layout::NR;

    /// # Safety
    /// AVX2 and FMA are present; `x` holds `mr` rows of `k_pad` values (an even number), `w` a
    /// packed tile of `k_pad / 2` pairs.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn microkernel(Args { x, k_pad, mr, w }: Args, sums: &mut [[f32; NR]; MR]) {
        by_rows!(mr, R => rows::<R>(x, k_pad, w, sums))
    }

    /// The even and odd halves of eight (even, odd) bf16 pairs, as f32.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn halves(pairs: __m256i) -> (__m256, __m256) {
        let high = _mm256_set1_epi32(0xffff_0000_u32 as i32);
        (
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(pairs)),
            _mm256_castsi256_ps(_mm256_and_si256(pairs, high)),
        )
    }

    /// The sums of `R` rows into `sums`; per pair of inputs the odd product is added first, then
    /// the even one (`vdpbf16ps`'s order).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn rows<const R: usize>(x: *const u16, k_pad: usize, w: *const u16, sums: &mut [[f32; NR]; MR]) {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for p in 0..k_pad / 2 {
            let lanes = w.add(p * 2 * NR) as *const __m256i;
            let (w_even_lo, w_odd_lo) = halves(_mm256_loadu_si256(lanes));
            let (w_even_hi, w_odd_hi) = halves(_mm256_loadu_si256(lanes.add(1)));
            for (r, acc) in acc.iter_mut().enumerate() {
                let pair = (x.add(r * k_pad + 2 * p) as *const i32).read_unaligned();
                let (x_even, x_odd) = halves(_mm256_set1_epi32(pair));
                acc[0] = _mm256_fmadd_ps(x_even, w_even_lo, _mm256_fmadd_ps(x_odd, w_odd_lo, acc[0]));
                acc[1] = _mm256_fmadd_ps(x_even, w_even_hi, _mm256_fmadd_ps(x_odd, w_odd_hi, acc[1]));
            }
        }
        for (acc, sums) in acc.iter().zip(sums.iter_mut()) {
            _mm256_storeu_ps(sums.as_mut_ptr(), acc[0]);
            _mm256_storeu_ps(sums.as_mut_ptr().add(8), acc[1]);
        }
    }
}

/// The float32 kernel: 4 rows by one tile of 16 channels, 8 accumulators.
pub(crate) mod f32 {
    use std::arch::x86_64::*;

    use crate::cpu::gemm::f32::{MR, NR};

    /// `c[r][0..16] += sum_k a[k][r] w[k][0..16]` for the `MR` rows of `c` at `stride`.
    ///
    /// # Safety
    /// AVX2 and FMA are present; `a` holds `kc * MR` values, `w` `kc * NR`, `c` `MR` rows of `NR`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn microkernel(a: *const f32, w: *const f32, kc: usize, c: *mut f32, stride: usize) {
        // The destination rows are the only reads that miss the caches (a block's outputs outgrow
        // L2): fetch them now, behind the multiply-adds, not at the end.
        for r in 0..MR {
            _mm_prefetch::<_MM_HINT_T0>(c.add(r * stride) as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(c.add(r * stride + NR - 1) as *const i8);
        }
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        for k in 0..kc {
            let w0 = _mm256_loadu_ps(w.add(k * NR));
            let w1 = _mm256_loadu_ps(w.add(k * NR + 8));
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_broadcast_ss(&*a.add(k * MR + r));
                acc[0] = _mm256_fmadd_ps(x, w0, acc[0]);
                acc[1] = _mm256_fmadd_ps(x, w1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let dst = c.add(r * stride);
            _mm256_storeu_ps(dst, _mm256_add_ps(_mm256_loadu_ps(dst), acc[0]));
            _mm256_storeu_ps(dst.add(8), _mm256_add_ps(_mm256_loadu_ps(dst.add(8)), acc[1]));
        }
    }
}
