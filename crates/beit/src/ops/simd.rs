//! Vectorizable elementwise maths, and the AVX2+FMA dispatch for the loops that use it.
//!
//! The crate is built for baseline x86-64 (SSE2) so that one binary runs everywhere; the hot loops
//! are compiled a second time with AVX2 and FMA enabled and chosen at run time.

/// Runs `body` in a function compiled with AVX2 and FMA when the CPU has them.
///
/// Mark the closure `#[inline(always)]`: it is called from two places (this path and the
/// baseline one), and once its loop is inlined into it LLVM may judge it too big to inline
/// into the AVX2 function, which then calls a baseline copy (with a libm call per `floor`).
#[inline(always)]
pub fn dispatch<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { with_avx2_fma(body) };
        }
    }
    body()
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2_fma() -> bool {
    // std caches the detection: each call is an atomic load.
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn with_avx2_fma<R>(body: impl FnOnce() -> R) -> R {
    body()
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
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
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
    }
}
