//! The packed f32 matmul's row panels: `MR` rows of activations interleaved input by input
//! (`[k][MR]`), so that the microkernel reads one input of its six rows from one place.
//!
//! The copy runs for every pass over the inputs of every block, so it is written four inputs of the
//! six rows at a time, as a 4 x 4 transpose and a pair of 2-value stores, not one value at a time
//! (a stride-6 store per input of a row; bench/README.md, "Kernel choices", says what that cost).

use std::mem::MaybeUninit;

/// Rows per microkernel call of the packed f32 matmul, so rows per panel: 12 accumulators, 2
/// weight vectors and a broadcast fill 15 of the 16 AVX registers.
pub(crate) const MR: usize = 6;

/// `dst[k][r] = rows[r][k]` for `k < len`: `dst` holds `len * MR` values, each row `len`.
pub(crate) fn interleave(rows: &[&[f32]; MR], len: usize, dst: &mut [f32]) {
    // SAFETY: the same memory, viewed as slots that are only written to (with valid f32s).
    let slots = unsafe { &mut *(dst as *mut [f32] as *mut [MaybeUninit<f32>]) };
    interleave_into(rows, len, slots)
}

/// `interleave` into memory not written yet: a fresh panel buffer is filled without zeroing it
/// first (that memset was 2% of a float32 forward).
pub(crate) fn interleave_into(rows: &[&[f32]; MR], len: usize, dst: &mut [MaybeUninit<f32>]) {
    let dst = &mut dst[..len * MR];
    for row in rows {
        assert!(
            row.len() >= len,
            "a panel row of {} values for {len} inputs",
            row.len()
        );
    }
    #[cfg(target_arch = "x86_64")]
    let done = {
        // SAFETY: SSE is part of x86-64; every row has `len` values and `dst` `len * MR`.
        unsafe { sse::interleave_fours(rows, len, dst.as_mut_ptr().cast()) }
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    for k in done..len {
        for (r, row) in rows.iter().enumerate() {
            dst[k * MR + r].write(row[k]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod sse {
    use std::arch::x86_64::*;

    use super::MR;

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaves_every_length_and_offset() {
        let data: Vec<f32> = (0..6 * 40).map(|i| i as f32).collect();
        for len in 0..=33 {
            let rows: [&[f32]; MR] = std::array::from_fn(|r| &data[r * 40 + r % 3..][..len]);
            let mut dst = vec![f32::NAN; len * MR + 1];
            interleave(&rows, len, &mut dst);
            for k in 0..len {
                for (r, row) in rows.iter().enumerate() {
                    assert_eq!(dst[k * MR + r], row[k], "len {len}, input {k}, row {r}");
                }
            }
            assert!(dst[len * MR].is_nan(), "len {len}: wrote past the panel");
        }
    }
}
