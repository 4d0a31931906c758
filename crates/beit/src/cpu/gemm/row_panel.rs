//! The packed f32 matmul's row panels: `MR` rows of activations interleaved input by input
//! (`[k][MR]`), so that the microkernel reads one input of its six rows from one place.
//!
//! The copy runs for every pass over the inputs of every block, so it is written four inputs of the
//! six rows at a time, as a 4 x 4 transpose and a pair of 2-value stores, not one value at a time
//! (a stride-6 store per input of a row; bench/README.md, "Kernel choices", says what that cost).

use std::mem::MaybeUninit;

use crate::cpu::arch::native::interleave_fours;

pub(crate) use crate::cpu::gemm::f32::MR;

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
    // SAFETY: every row has `len` values and `dst` `len * MR`.
    let done = unsafe { interleave_fours(rows, len, dst.as_mut_ptr().cast()) };
    for k in done..len {
        for (r, row) in rows.iter().enumerate() {
            dst[k * MR + r].write(row[k]);
        }
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
