//! AVX-512 (F/BW/VL with VNNI; Ice Lake, Zen 4, Sapphire Rapids and later): the int8 kernels
//! (`vpdpbusd`) and, on CPUs with AVX512_BF16, the bf16 ones (`vdpbf16ps`); each has a one-tile
//! kernel of 4 rows and a pair kernel of 8 rows by two tiles (each row's broadcast serves both
//! tiles, half the loads per product). The tables that choose them are in `cpu::arch::native`.

/// The int8 kernels: one `vpdpbusd` does the four byte products of 16 channels and their sum into
/// i32 at once, per row and group, with two accumulators per row (even and odd groups) so that
/// eight sums are in flight. They take the same levels as the AVX2 kernels: the i32 sums are exact
/// either way, so every level gives the same bits.
pub(crate) mod int8 {
    use std::arch::x86_64::*;

    use crate::cpu::gemm::int8::{Args, Epilogue, PairArgs, KG, MR, WIDE_MR};
    use crate::cpu::gemm::tile_layout::NR;

    /// The VNNI kernel with the epilogue in registers for `mr` rows by two whole tiles (`w`, with
    /// `epilogues` for each).
    ///
    /// # Safety
    /// AVX-512 F/BW/VL/VNNI are present; `x` holds `mr <= WIDE_MR` rows of `k_pad` bytes, each of
    /// `w` a packed tile of `k_groups` groups, and the epilogues' destinations `mr` rows of 16.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn pair_microkernel_into(args: PairArgs, epilogues: &[Epilogue; 2]) {
        let PairArgs {
            x,
            k_pad,
            mr,
            w,
            k_groups,
        } = args;
        const _: () = assert!(WIDE_MR == 8);
        by_wide_rows!(mr, R => pair_into::<R>(x, k_pad, w, k_groups, epilogues))
    }

    /// Per group of four inputs, each row's four bytes broadcast once and multiplied by both
    /// tiles' 16 channels: 2R independent sums.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn pair_into<const R: usize>(
        x: *const u8,
        k_pad: usize,
        w: [*const i8; 2],
        k_groups: usize,
        epilogues: &[Epilogue; 2],
    ) {
        let mut acc = [[_mm512_setzero_si512(); 2]; R];
        for g in 0..k_groups {
            let [w0, w1] = w.map(|w| _mm512_loadu_si512(w.add(g * KG * NR).cast()));
            for (r, acc) in acc.iter_mut().enumerate() {
                let four = _mm512_set1_epi32((x.add(r * k_pad + KG * g) as *const i32).read_unaligned());
                acc[0] = _mm512_dpbusd_epi32(acc[0], four, w0);
                acc[1] = _mm512_dpbusd_epi32(acc[1], four, w1);
            }
        }
        for (half, e) in epilogues.iter().enumerate() {
            epilogue(&acc.map(|a| a[half]), e);
        }
    }

    /// The VNNI kernel with the epilogue in registers, for a whole tile of `NR` channels.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL/VNNI are present; otherwise as `avx2::int8::microkernel_into`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn microkernel_into(args: Args, e: &Epilogue) {
        by_rows!(args.mr, R => epilogue(&rows::<R>(args), e))
    }

    /// The sums of `mr` rows by one tile.
    ///
    /// # Safety
    /// As `microkernel_into`, with `sums` in place of the epilogue.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn microkernel(args: Args, sums: &mut [[i32; NR]; MR]) {
        by_rows!(args.mr, R => store(&rows::<R>(args), sums))
    }

    /// The epilogue of up to `R` rows of sums from memory (the tile unit's): columns `16 half..16 half + 16`
    /// of `sums`, one row per entry of `e.quants`.
    ///
    /// # Safety
    /// As `microkernel_into`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn epilogue_from<const R: usize>(sums: &[[i32; 2 * NR]; R], half: usize, e: &Epilogue) {
        let acc: [__m512i; R] =
            std::array::from_fn(|r| _mm512_loadu_si512(sums[r][half * NR..].as_ptr().cast()));
        epilogue(&acc, e);
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn epilogue<const R: usize>(acc: &[__m512i; R], e: &Epilogue) {
        let weight_sums = _mm512_loadu_si512(e.weight_sums.as_ptr().cast());
        let scales = _mm512_loadu_ps(e.scales.as_ptr());
        let bias = _mm512_loadu_ps(e.bias.as_ptr());
        for (r, (&sums, q)) in acc.iter().zip(e.quants).enumerate() {
            let s = _mm512_sub_epi32(sums, _mm512_mullo_epi32(_mm512_set1_epi32(q.zero), weight_sums));
            let mut y = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(q.scale));
            y = _mm512_mul_ps(y, scales);
            y = _mm512_add_ps(y, bias);
            let dst = e.dst.add(r * e.stride);
            if e.accumulate {
                y = _mm512_add_ps(_mm512_loadu_ps(dst), y);
            }
            _mm512_storeu_ps(dst, y);
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn store<const R: usize>(acc: &[__m512i; R], sums: &mut [[i32; NR]; MR]) {
        for (acc, sums) in acc.iter().zip(sums.iter_mut()) {
            _mm512_storeu_si512(sums.as_mut_ptr().cast(), *acc);
        }
    }

    /// The i32 sums of `R` rows by one tile: per group of four inputs, one `vpdpbusd` per row
    /// (the row's four bytes in every lane against the 16 channels' four weights); even and odd
    /// groups in separate accumulators, added at the end.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn rows<const R: usize>(args: Args) -> [__m512i; R] {
        let Args {
            x,
            k_pad,
            w,
            k_groups,
            ..
        } = args;
        let mut acc = [[_mm512_setzero_si512(); 2]; R];
        let load = |g: usize| _mm512_loadu_si512(w.add(g * KG * NR).cast());
        for g in (0..k_groups).step_by(2) {
            let (w0, w1) = (load(g), load(g + 1));
            for (r, acc) in acc.iter_mut().enumerate() {
                let at = x.add(r * k_pad + KG * g) as *const i32;
                acc[0] = _mm512_dpbusd_epi32(acc[0], _mm512_set1_epi32(at.read_unaligned()), w0);
                acc[1] = _mm512_dpbusd_epi32(acc[1], _mm512_set1_epi32(at.add(1).read_unaligned()), w1);
            }
        }
        acc.map(|[even, odd]| _mm512_add_epi32(even, odd))
    }
}

/// The bf16 kernels: `vdpbf16ps`, one pair of inputs by 16 channels a row.
pub(crate) mod bf16 {
    use std::arch::x86_64::*;

    use crate::cpu::gemm::bf16::{Args, MR, WIDE_MR};
    use crate::cpu::gemm::tile_layout::NR;

    /// # Safety
    /// AVX-512 F/BW/VL and BF16 are present; `x` holds `mr` rows of `k_pad` values (an even
    /// number of pairs), `w` a packed tile of `k_pad / 2` pairs.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub unsafe fn microkernel(Args { x, k_pad, mr, w }: Args, sums: &mut [[f32; NR]; MR]) {
        by_rows!(mr, R => store(&rows::<R>(x, k_pad, w), sums))
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    #[inline]
    unsafe fn store<const R: usize>(acc: &[__m512; R], sums: &mut [[f32; NR]; MR]) {
        for (acc, sums) in acc.iter().zip(sums.iter_mut()) {
            _mm512_storeu_ps(sums.as_mut_ptr(), *acc);
        }
    }

    /// The sums of `mr` rows of `x` (at stride `k_pad`) by the two packed tiles `w` into `sums`
    /// (the first tile's 16 channels, then the second's).
    ///
    /// # Safety
    /// AVX-512 F/BW/VL and BF16 are present; `x` holds `mr <= WIDE_MR` rows of `k_pad` values (an
    /// even number), `w` two packed tiles of `k_pad / 2` pairs.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub unsafe fn pair_microkernel(
        x: *const u16,
        k_pad: usize,
        mr: usize,
        w: [*const u16; 2],
        sums: &mut [[f32; 2 * NR]; WIDE_MR],
    ) {
        const _: () = assert!(WIDE_MR == 8);
        by_wide_rows!(mr, R => pair_rows::<R>(x, k_pad, w, sums))
    }

    /// Per pair of inputs, each row's pair broadcast once and multiplied by both tiles' 16
    /// channels: 2R independent sums, up to 8 rows (2 loads and 8 broadcasts per 16 products;
    /// bench/README.md, "Kernel choices", compares 6 rows).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    #[inline]
    unsafe fn pair_rows<const R: usize>(
        x: *const u16,
        k_pad: usize,
        w: [*const u16; 2],
        sums: &mut [[f32; 2 * NR]; WIDE_MR],
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for p in 0..k_pad / 2 {
            let [w0, w1] =
                w.map(|w| -> __m512bh { std::mem::transmute(_mm512_loadu_si512(w.add(p * 2 * NR).cast())) });
            for (r, acc) in acc.iter_mut().enumerate() {
                let at = x.add(r * k_pad + 2 * p) as *const i32;
                let pair: __m512bh = std::mem::transmute(_mm512_set1_epi32(at.read_unaligned()));
                acc[0] = _mm512_dpbf16_ps(acc[0], pair, w0);
                acc[1] = _mm512_dpbf16_ps(acc[1], pair, w1);
            }
        }
        for (acc, sums) in acc.iter().zip(sums.iter_mut()) {
            _mm512_storeu_ps(sums.as_mut_ptr(), acc[0]);
            _mm512_storeu_ps(sums.as_mut_ptr().add(NR), acc[1]);
        }
    }

    /// Per pair of inputs, one `vdpbf16ps` per row (the row's pair in every lane against the 16
    /// channels' pairs); even and odd pairs in separate accumulators, added at the end.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    #[inline]
    unsafe fn rows<const R: usize>(x: *const u16, k_pad: usize, w: *const u16) -> [__m512; R] {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        let load =
            |p: usize| -> __m512bh { std::mem::transmute(_mm512_loadu_si512(w.add(p * 2 * NR).cast())) };
        let pair = |r: usize, p: usize| -> __m512bh {
            let at = x.add(r * k_pad + 2 * p) as *const i32;
            std::mem::transmute(_mm512_set1_epi32(at.read_unaligned()))
        };
        for p in (0..k_pad / 2).step_by(2) {
            let (w0, w1) = (load(p), load(p + 1));
            for (r, acc) in acc.iter_mut().enumerate() {
                acc[0] = _mm512_dpbf16_ps(acc[0], pair(r, p), w0);
                acc[1] = _mm512_dpbf16_ps(acc[1], pair(r, p + 1), w1);
            }
        }
        acc.map(|[even, odd]| _mm512_add_ps(even, odd))
    }
}

/// The float32 kernel: 4 rows by a pair of tiles (32 channels), 8 accumulators.
pub(crate) mod f32 {
    use std::arch::x86_64::*;

    use crate::cpu::gemm::f32::{MR, NR};

    /// `c[r][0..32] += sum_k a[k][r] (w0[k][0..16], w1[k][0..16])` for the `MR` rows of `c` at
    /// `stride`: two tiles' lanes side by side.
    ///
    /// # Safety
    /// AVX-512F is present; `a` holds `kc * MR` values, `w[0]` and `w[1]` `kc * NR` each, `c`
    /// `MR` rows of `2 NR`.
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn microkernel(a: *const f32, w: [*const f32; 2], kc: usize, c: *mut f32, stride: usize) {
        for r in 0..MR {
            _mm_prefetch::<_MM_HINT_T0>(c.add(r * stride) as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(c.add(r * stride + 2 * NR - 1) as *const i8);
        }
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for k in 0..kc {
            let w0 = _mm512_loadu_ps(w[0].add(k * NR));
            let w1 = _mm512_loadu_ps(w[1].add(k * NR));
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_ps(*a.add(k * MR + r));
                acc[0] = _mm512_fmadd_ps(x, w0, acc[0]);
                acc[1] = _mm512_fmadd_ps(x, w1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let dst = c.add(r * stride);
            _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_loadu_ps(dst), acc[0]));
            _mm512_storeu_ps(dst.add(NR), _mm512_add_ps(_mm512_loadu_ps(dst.add(NR)), acc[1]));
        }
    }
}

/// Attention's two matmuls with `vdpbf16ps` (`cpu::bf16_attention`): the rows rounded, the keys
/// and values packed as the bf16 layer packs a weight, the products of pairs of tiles.
pub(crate) mod bf16_attention {
    use crate::cpu::arch::native::avx512::bf16::pair_microkernel;
    use crate::cpu::bf16_attention::kernels::{self as bf16_attention, Product, Rounded, Rows};
    use crate::cpu::gemm::bf16::WIDE_MR;
    use crate::cpu::gemm::tile_layout::NR;

    /// `rows` rounded to bf16 into `dst`, each padded with zeros to a multiple of its step; that
    /// length (`bf16_attention::round_rows` compiled
    /// for AVX-512). Written once, not zeroed first: the probabilities are 78 KB a head at 197 tokens.
    ///
    /// # Safety
    /// The rows are readable.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub unsafe fn round_rows(rows: Rows, dst: &mut Vec<u16>) -> usize {
        bf16_attention::round_rows(rows, dst)
    }

    /// The keys of one head (`s` rows of `head_dim`, rounded by `round_rows` into `rounded`) as
    /// `ops::bf16_linear` packs a weight: tiles of `NR` keys, per pair of the head's channels each key's
    /// two values side by side. Those two are already neighbours in a key's row, so this moves pairs
    /// (u32s) from 16 rows into one tile; the tiles in whole pairs (the kernel takes two), zeros past
    /// the last key.
    pub fn pack_keys(
        Rounded {
            values: rounded,
            s,
            width: k_pad,
            ..
        }: Rounded,
        dst: &mut Vec<u16>,
    ) {
        let pairs = k_pad / 2;
        let tiles = s.div_ceil(NR).next_multiple_of(2);
        dst.clear();
        dst.reserve(tiles * k_pad * NR);
        for tile in 0..tiles {
            for p in 0..pairs {
                for key in tile * NR..(tile + 1) * NR {
                    let pair = rounded.get(key * k_pad + 2 * p..key * k_pad + 2 * p + 2);
                    dst.extend_from_slice(pair.unwrap_or(&[0, 0]));
                }
            }
        }
    }

    /// The values of one head (`s` rows of `head_dim`, rounded by `round_rows` into `rounded` at
    /// stride `width`) as a weight of `head_dim` channels over `s` inputs: tiles of `NR` channels, per
    /// pair of keys the two keys' values side by side (an interleave of two rows), keys padded to the
    /// kernel's `step` as `round_rows` pads the probabilities; the tiles in whole pairs, zeros past
    /// the ends.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub unsafe fn pack_values(rounded: Rounded, step: usize, dst: &mut Vec<u16>) {
        let Rounded {
            values: rounded,
            s,
            len: head_dim,
            width,
        } = rounded;
        let k_pad = s.next_multiple_of(step);
        let tiles = head_dim.div_ceil(NR).next_multiple_of(2);
        dst.clear();
        dst.reserve(tiles * k_pad * NR);
        let row = |key: usize, c0: usize| -> [u16; NR] {
            let mut lanes = [0; NR];
            let used = NR.min(head_dim.saturating_sub(c0));
            if key < s && used > 0 {
                lanes[..used].copy_from_slice(&rounded[key * width + c0..][..used]);
            }
            lanes
        };
        for tile in 0..tiles {
            for p in 0..k_pad / 2 {
                let (even, odd) = (row(2 * p, tile * NR), row(2 * p + 1, tile * NR));
                dst.extend(even.iter().zip(&odd).flat_map(|(&e, &o)| [e, o]));
            }
        }
    }

    /// `p`, its tiles packed for `vdpbf16ps`.
    ///
    /// # Safety
    /// The CPU has AVX512_BF16; `x` holds `rows * k_pad` values, `w` whole pairs of tiles of `k_pad / 2` pairs
    /// covering `cols` channels; the rows of `out` are writable.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub unsafe fn products(p: Product) {
        let (k_pad, tile) = (p.k_pad, p.k_pad * NR);
        assert!(p.x.len() >= p.rows * k_pad && p.w.len() >= p.cols.div_ceil(2 * NR) * 2 * tile);
        let mut sums = [[0f32; 2 * NR]; WIDE_MR];
        // Each pair of tiles (at most 2 x 16 x 198 values here) stays in L1 while the rows go by.
        for pair in 0..p.cols.div_ceil(2 * NR) {
            let tiles = [2 * pair, 2 * pair + 1].map(|t| p.w[t * tile..].as_ptr());
            for row in (0..p.rows).step_by(WIDE_MR) {
                let mr = WIDE_MR.min(p.rows - row);
                pair_microkernel(p.x[row * k_pad..].as_ptr(), k_pad, mr, tiles, &mut sums);
                p.put(row, pair * 2 * NR, &sums[..mr]);
            }
        }
    }

    /// `Product::put` compiled for AVX-512, for the tile unit's closure (a closure does not inherit
    /// its function's target features).
    ///
    /// # Safety
    /// As `Product::put`, on a CPU with AVX-512 F/BW/VL.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub unsafe fn put_wide(p: &Product, row: usize, c0: usize, sums: &[[f32; 2 * NR]]) {
        p.put(row, c0, sums);
    }
}
