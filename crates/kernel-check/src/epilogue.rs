//! The linear epilogue kernel (epilogue.cu): act(x + bias) + residual.

use crate::{check_len, ffi, to_int};

/// `act(x + bias) + residual` over rows of `n`, act the erf GELU when `gelu`, as
/// `beit_bias_act_residual_*` computes it.
pub fn bias_act_residual(
    x: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    n: usize,
    gelu: bool,
) -> Vec<f32> {
    assert!(n > 0 && x.len().is_multiple_of(n), "x must be whole rows of {n}");
    if let Some(b) = bias {
        check_len("bias", b, n);
    }
    if let Some(r) = residual {
        check_len("residual", r, x.len());
    }
    let mut y = vec![f32::NAN; x.len()];
    // SAFETY: sizes checked above; absent operands are null, which the C++ side tests.
    unsafe {
        ffi::beit_host_bias_act_residual(
            x.as_ptr(),
            bias.map_or(std::ptr::null(), <[f32]>::as_ptr),
            residual.map_or(std::ptr::null(), <[f32]>::as_ptr),
            y.as_mut_ptr(),
            to_int(x.len() / n),
            to_int(n),
            i32::from(gelu),
        );
    }
    y
}
