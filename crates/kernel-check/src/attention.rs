//! The fused attention kernel (attention.cu), emulated tile by tile on the host.

use crate::{check_len, ffi, to_int};

/// Shape of one attention call: `qkv` is `[batch, seq, 3 * heads * head_dim]`.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
}

/// The context `[batch, seq, heads * head_dim]` of `softmax(scale * Q K^T + bias) V`, as
/// `beit_attention_*` computes it; `bias` is `[heads, seq, seq]`.
pub fn attention(qkv: &[f32], bias: Option<&[f32]>, shape: AttentionShape, scale: f32) -> Vec<f32> {
    let AttentionShape {
        batch,
        seq,
        heads,
        head_dim,
    } = shape;
    let dim = heads * head_dim;
    check_len("qkv", qkv, batch * seq * 3 * dim);
    if let Some(bias) = bias {
        check_len("bias", bias, heads * seq * seq);
    }
    let mut out = vec![f32::NAN; batch * seq * dim];
    // SAFETY: every buffer has the size the shape implies (checked above).
    unsafe {
        ffi::beit_host_attention(
            qkv.as_ptr(),
            bias.map_or(std::ptr::null(), <[f32]>::as_ptr),
            out.as_mut_ptr(),
            to_int(batch),
            to_int(seq),
            to_int(heads),
            to_int(head_dim),
            scale,
        );
    }
    out
}

/// The kernel's dynamic shared memory for `head_dim`, as the header defines it.
pub fn shared_bytes(head_dim: usize) -> usize {
    // SAFETY: pure arithmetic.
    unsafe { ffi::beit_host_attention_shared_bytes(to_int(head_dim)) as usize }
}
