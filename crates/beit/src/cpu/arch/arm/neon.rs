//! arm64's NEON: the int8 kernel with the dot product extension (`sdot`) and the bf16 one for
//! CPUs without BF16 arithmetic (pairs unpacked to f32). The tables that choose them are in
//! `cpu::arch::native`; the Armv8.6 matrix kernels are in `mmla`.

/// The arm64 kernel: the dot product extension's `sdot` (Armv8.4, optional from 8.2: Graviton 2 and
/// later, Apple M1 and later, Ampere Altra) multiplies four signed bytes by four and adds them into
/// each i32 lane, which is exactly the packed layout's group of four inputs of one channel: one
/// `sdot` by element takes a group of four channels' weights and one row's group of activations
/// (levels 0..=127 are the same bytes signed). 4 rows by 16 channels in 16 accumulators. The i32
/// sums are exact, so it gives the same bits as every other level. Rust 1.95 has no stable `sdot`
/// intrinsic (they are stable from 1.98): inline assembly, the one instruction.
pub(crate) mod int8 {
    use std::arch::aarch64::*;
    use std::arch::asm;

    use crate::cpu::gemm::int8::{Args, KG, MR};
    use crate::cpu::gemm::tile_layout::NR;

    /// `sums[r][c] = sum_k x[r][k] w[k][c]` for `mr <= MR` rows.
    ///
    /// # Safety
    /// NEON and dotprod are present; `x` holds `mr` rows of `KG * k_groups` values at stride
    /// `k_pad`, `w` a packed tile of `k_groups` groups (an even number); activations in 0..=127.
    #[target_feature(enable = "neon,dotprod")]
    pub unsafe fn microkernel(args: Args, sums: &mut [[i32; NR]; MR]) {
        let Args {
            x,
            k_pad,
            mr,
            w,
            k_groups,
        } = args;
        let mut acc = [[vdupq_n_s32(0); NR / 4]; MR];
        let rows = mr.min(MR);
        let mut g = 0;
        while g < k_groups {
            // Four groups of each row in one register (two at the end of an odd pair count).
            let n = (k_groups - g).min(4);
            let mut xs = [vdupq_n_s8(0); MR];
            for (r, xs) in xs.iter_mut().enumerate().take(rows) {
                let at = x.add(r * k_pad + KG * g) as *const i8;
                *xs = if n == 4 {
                    vld1q_s8(at)
                } else {
                    vcombine_s8(vld1_s8(at), vdup_n_s8(0))
                };
            }
            // The lane is an immediate of `sdot`: one call per lane, no branch in the loops.
            let w = w.add(g * KG * NR);
            group::<0>(&mut acc, &xs, rows, w);
            group::<1>(&mut acc, &xs, rows, w);
            if n == 4 {
                group::<2>(&mut acc, &xs, rows, w);
                group::<3>(&mut acc, &xs, rows, w);
            }
            g += n;
        }
        for (acc, sums) in acc.iter().zip(sums.iter_mut()).take(rows) {
            for (q, &a) in acc.iter().enumerate() {
                vst1q_s32(sums.as_mut_ptr().add(4 * q), a);
            }
        }
    }

    /// Adds group `LANE` of each row's register `xs[r]` times that group's weights (the tile's
    /// group `LANE` after `w`) to the row's 16 sums.
    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    unsafe fn group<const LANE: u32>(
        acc: &mut [[int32x4_t; NR / 4]; MR],
        xs: &[int8x16_t; MR],
        rows: usize,
        w: *const i8,
    ) {
        let ws: [int8x16_t; NR / 4] =
            std::array::from_fn(|q| vld1q_s8(w.add(LANE as usize * KG * NR + 16 * q)));
        for (acc, &xr) in acc.iter_mut().zip(xs).take(rows) {
            for (acc, &wq) in acc.iter_mut().zip(&ws) {
                *acc = sdot::<LANE>(*acc, wq, xr);
            }
        }
    }

    /// `acc[i] += sum_j w[4i + j] x[4 LANE + j]` over `j < 4`, signed bytes.
    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    unsafe fn sdot<const LANE: u32>(mut acc: int32x4_t, w: int8x16_t, x: int8x16_t) -> int32x4_t {
        asm!(
            "sdot {acc:v}.4s, {w:v}.16b, {x:v}.4b[{lane}]",
            acc = inout(vreg) acc,
            w = in(vreg) w,
            x = in(vreg) x,
            lane = const LANE,
            options(pure, nomem, nostack, preserves_flags),
        );
        acc
    }
}

/// arm64's NEON (without the BF16 extension): as the AVX2 kernel, four channels' pairs a register.
pub(crate) mod bf16 {
    use std::arch::aarch64::*;

    use crate::cpu::gemm::bf16::{Args, MR};
    use crate::cpu::gemm::tile_layout::NR;

    /// # Safety
    /// NEON is present; `x` holds `mr` rows of `k_pad` values (an even number), `w` a packed tile
    /// of `k_pad / 2` pairs.
    #[target_feature(enable = "neon")]
    pub unsafe fn microkernel(Args { x, k_pad, mr, w }: Args, sums: &mut [[f32; NR]; MR]) {
        by_rows!(mr, R => rows::<R>(x, k_pad, w, sums))
    }

    /// The even and odd halves of four (even, odd) bf16 pairs, as f32.
    #[target_feature(enable = "neon")]
    #[inline]
    unsafe fn halves(pairs: uint32x4_t) -> (float32x4_t, float32x4_t) {
        (
            vreinterpretq_f32_u32(vshlq_n_u32::<16>(pairs)),
            vreinterpretq_f32_u32(vandq_u32(pairs, vdupq_n_u32(0xffff_0000))),
        )
    }

    /// The sums of `R` rows into `sums`; per pair of inputs the odd product is added first, then
    /// the even one (`vdpbf16ps`'s order).
    #[target_feature(enable = "neon")]
    #[inline]
    unsafe fn rows<const R: usize>(x: *const u16, k_pad: usize, w: *const u16, sums: &mut [[f32; NR]; MR]) {
        let mut acc = [[vdupq_n_f32(0.0); NR / 4]; R];
        for p in 0..k_pad / 2 {
            let lanes = w.add(p * 2 * NR) as *const u32;
            let ws: [(float32x4_t, float32x4_t); NR / 4] =
                std::array::from_fn(|q| halves(vld1q_u32(lanes.add(4 * q))));
            for (r, acc) in acc.iter_mut().enumerate() {
                let pair = (x.add(r * k_pad + 2 * p) as *const u32).read_unaligned();
                let (x_even, x_odd) = halves(vdupq_n_u32(pair));
                for (acc, &(w_even, w_odd)) in acc.iter_mut().zip(&ws) {
                    *acc = vfmaq_f32(vfmaq_f32(*acc, x_odd, w_odd), x_even, w_even);
                }
            }
        }
        for (acc, sums) in acc.iter().zip(sums.iter_mut()) {
            for (q, &a) in acc.iter().enumerate() {
                vst1q_f32(sums.as_mut_ptr().add(4 * q), a);
            }
        }
    }
}

/// The float32 kernel.
pub(crate) mod f32 {
    use std::arch::aarch64::*;

    use crate::cpu::gemm::f32::{MR, NR};

    // The kernel's rows are written out one by one below.
    const _: () = assert!(MR == 6 && NR == 16);

    /// `c[r][0..16] += sum_k a[k][r] w[k][0..16]` for the `MR` rows of `c` at `stride`: 24
    /// accumulators, the tile's four weight vectors and two activation vectors fill 30 of the 32
    /// q registers.
    ///
    /// # Safety
    /// `a` holds `kc * MR` values, `w` `kc * NR`, `c` `MR` rows of `NR`.
    #[target_feature(enable = "neon")]
    pub unsafe fn microkernel(a: *const f32, w: *const f32, kc: usize, c: *mut f32, stride: usize) {
        let mut acc = [[vdupq_n_f32(0.0); NR / 4]; MR];
        for k in 0..kc {
            let w = [0, 4, 8, 12].map(|j| vld1q_f32(w.add(k * NR + j)));
            // Rows 0..4, and rows 2..6 of which lanes 2 and 3 are rows 4 and 5 (the last step's
            // load ends at the panel's end).
            let (lo, hi) = (vld1q_f32(a.add(k * MR)), vld1q_f32(a.add(k * MR + 2)));
            macro_rules! row {
                ($r:expr, $v:expr, $lane:expr) => {
                    for (acc, &w) in acc[$r].iter_mut().zip(&w) {
                        *acc = vfmaq_laneq_f32::<$lane>(*acc, w, $v);
                    }
                };
            }
            row!(0, lo, 0);
            row!(1, lo, 1);
            row!(2, lo, 2);
            row!(3, lo, 3);
            row!(4, hi, 2);
            row!(5, hi, 3);
        }
        for (r, acc) in acc.iter().enumerate() {
            for (j, &acc) in acc.iter().enumerate() {
                let dst = c.add(r * stride + 4 * j);
                vst1q_f32(dst, vaddq_f32(vld1q_f32(dst), acc));
            }
        }
    }
}
