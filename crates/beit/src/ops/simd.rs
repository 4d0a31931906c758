//! Vectorizable elementwise maths, and the AVX2+FMA dispatch for the loops that use it.
//!
//! The crate is built for baseline x86-64 (SSE2) so that one binary runs everywhere; the hot loops
//! are compiled twice more, with AVX2 and FMA and with AVX-512 enabled, and chosen at run time (at
//! the level of `cpu::level::active`, so `BEIT_CPU=scalar` runs their baseline copy). The copies give
//! the same bits: Rust neither reorders float additions nor fuses multiplies into FMAs by itself,
//! so a wider vector only does more of the same operations at once.

use crate::cpu::arch::native;
use crate::cpu::level::active;

/// Runs `body` in a function compiled with AVX-512 or with AVX2 and FMA, as the CPU level allows
/// (`cpu::arch::native::dispatch`; elsewhere as it is).
///
/// Mark the closure `#[inline(always)]`: it is called from two places (this path and the
/// baseline one), and once its loop is inlined into it LLVM may judge it too big to inline
/// into the AVX2 function, which then calls a baseline copy (with a libm call per `floor`).
#[inline(always)]
pub fn dispatch<R>(body: impl FnOnce() -> R) -> R {
    native::dispatch(active(), body)
}

/// e^x for f32 as Cephes' `expf` (range reduction by ln 2, degree-6 polynomial): within 2 ulp, and
/// written so that loops over it vectorize. Inputs below -87.3 give about 1e-38 instead of 0,
/// which no softmax sum can tell apart.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const P: [f32; 6] = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5,
    ];
    #[allow(clippy::manual_clamp)]
    let x = x.max(-87.336_55).min(88.376_26);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    // Cody-Waite: ln 2 in two parts, so that x - n ln 2 keeps its digits.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let mut p = P[0];
    for c in &P[1..] {
        p = p * r + c;
    }
    let y = p * r * r + r + 1.0;
    // SAFETY: `n` is a whole number in -126..=128 (x is bounded above, NaN included: `max`
    // returns its other operand). `as` would add the saturation of out-of-range values: a tenth
    // of the function's instructions.
    let n = unsafe { n.to_int_unchecked::<i32>() };
    y * f32::from_bits(((n + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm_within_two_ulp() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp_f32(x), x.exp());
            assert!(
                (got - want).abs() <= 2.5 * f32::EPSILON * want,
                "exp({x}) = {got}, libm {want}"
            );
            x += 0.0137;
        }
        assert_eq!(exp_f32(0.0), 1.0);
        // Outside the range (and NaN) the input is bounded first, so the exponent's conversion to
        // an integer is always in range.
        assert!(exp_f32(f32::NEG_INFINITY) < 1e-37 && exp_f32(-1e30) < 1e-37);
        assert!(exp_f32(f32::NAN) < 1e-37);
        assert!(exp_f32(1e30) > 1e38);
    }
}
