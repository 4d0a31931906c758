//! The LayerNorm kernel (layer_norm.cu), emulated row by row with its reduction order.

use crate::{check_len, ffi, to_int};

/// LayerNorm over rows of `dim` values, as `beit_layer_norm_*` computes it.
pub fn layer_norm(x: &[f32], weight: &[f32], bias: &[f32], dim: usize, eps: f32) -> Vec<f32> {
    assert!(
        dim > 0 && x.len().is_multiple_of(dim),
        "x must be whole rows of {dim}"
    );
    check_len("weight", weight, dim);
    check_len("bias", bias, dim);
    let mut y = vec![f32::NAN; x.len()];
    // SAFETY: x and y hold rows * dim values, weight and bias dim (checked above).
    unsafe {
        ffi::beit_host_layer_norm(
            x.as_ptr(),
            weight.as_ptr(),
            bias.as_ptr(),
            y.as_mut_ptr(),
            to_int(x.len() / dim),
            to_int(dim),
            eps,
        );
    }
    y
}
