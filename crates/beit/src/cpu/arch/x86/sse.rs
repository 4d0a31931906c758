//! SSE, which every x86-64 CPU has: the f32 panels' interleave (`cpu::gemm::row_panel`) and the
//! prefetch into L2 of the weight rows a streamed call reads next (`cpu::prefetch`).

use std::arch::x86_64::*;

use crate::cpu::gemm::f32::MR;

// The stores below place rows 0..4 and rows 4..6 of each input.
const _: () = assert!(MR == 6);

/// `interleave` for the inputs `0..len / 4 * 4`, four at a time; returns how many it did.
///
/// # Safety
/// Every row holds `len` values and `out` has room for `len * MR`.
pub unsafe fn interleave_fours(rows: &[&[f32]; MR], len: usize, out: *mut f32) -> usize {
    let fours = len / 4 * 4;
    for k in (0..fours).step_by(4) {
        let [mut r0, mut r1, mut r2, mut r3, r4, r5] = rows.map(|row| _mm_loadu_ps(row.as_ptr().add(k)));
        // Each of r0..r3 becomes one input of rows 0..4.
        _MM_TRANSPOSE4_PS(&mut r0, &mut r1, &mut r2, &mut r3);
        // Inputs k, k+1 of rows 4 and 5, then inputs k+2, k+3.
        let (lo, hi) = (_mm_unpacklo_ps(r4, r5), _mm_unpackhi_ps(r4, r5));
        let dst = out.add(k * MR);
        for (i, (head, tail, high)) in [(r0, lo, false), (r1, lo, true), (r2, hi, false), (r3, hi, true)]
            .into_iter()
            .enumerate()
        {
            let at = dst.add(i * MR);
            _mm_storeu_ps(at, head);
            // Two f32 as one f64 lane: the pair's bits move unchanged.
            let (pair, tail) = (at.add(4) as *mut f64, _mm_castps_pd(tail));
            if high {
                _mm_storeh_pd(pair, tail);
            } else {
                _mm_storel_pd(pair, tail);
            }
        }
    }
    fours
}
/// Fetches the cache line of `ptr` into L2.
#[inline(always)]
pub fn prefetch_l2(ptr: *const u8) {
    // SAFETY: a prefetch is a hint: it never faults, whatever the address.
    unsafe { _mm_prefetch::<_MM_HINT_T1>(ptr.cast()) }
}
