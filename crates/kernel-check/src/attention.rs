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
    attention_strided(qkv, bias.map(|b| (b, shape.seq)), shape, scale)
}

/// `attention` with the bias's rows of `seq` values `ld` apart (`[heads, seq, ld]`).
pub fn attention_strided(
    qkv: &[f32],
    bias: Option<(&[f32], usize)>,
    shape: AttentionShape,
    scale: f32,
) -> Vec<f32> {
    let AttentionShape {
        batch,
        seq,
        heads,
        head_dim,
    } = shape;
    let dim = heads * head_dim;
    check_len("qkv", qkv, batch * seq * 3 * dim);
    if let Some((bias, ld)) = bias {
        assert!(ld >= seq, "a bias row stride of {ld} under {seq} tokens");
        check_len("bias", bias, heads * seq * ld);
    }
    let mut out = vec![f32::NAN; batch * seq * dim];
    // SAFETY: every buffer has the size the shape implies (checked above).
    unsafe {
        ffi::beit_host_attention(
            qkv.as_ptr(),
            bias.map_or(std::ptr::null(), |(b, _)| b.as_ptr()),
            out.as_mut_ptr(),
            to_int(batch),
            to_int(seq),
            to_int(heads),
            to_int(head_dim),
            to_int(bias.map_or(seq, |(_, ld)| ld)),
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

/// The tensor-core kernel's shared-memory layout for `head_dim`, as its header defines it.
#[derive(Debug)]
pub struct MmaSmem {
    /// Byte offsets of the Q, K, V, scores, probabilities, context and row-statistics buffers.
    pub offsets: [usize; 7],
    /// Bytes of 16 rows of the Q/K/V tiles, the scores, the probabilities and the context.
    pub sixteen_rows: [usize; 4],
    pub total: usize,
}

/// `beit_mma_smem(head_dim)` of attention_tiles.cuh.
pub fn mma_smem(head_dim: usize) -> MmaSmem {
    let mut out = [0i32; 12];
    // SAFETY: the C++ writes exactly twelve ints.
    unsafe { ffi::beit_host_mma_smem(to_int(head_dim), out.as_mut_ptr()) };
    let v = out.map(|x| x as usize);
    MmaSmem {
        offsets: [v[0], v[1], v[2], v[3], v[4], v[5], v[6]],
        sixteen_rows: [v[7], v[8], v[9], v[10]],
        total: v[11],
    }
}

/// The flash kernel's shared bytes and row stride (elements) for `head_dim` with blocks of `warps`
/// warps, as its header says.
pub fn flash_layout(head_dim: usize, warps: usize) -> (usize, usize) {
    // SAFETY: pure arithmetic.
    unsafe {
        (
            ffi::beit_host_flash_shared_bytes(to_int(head_dim), to_int(warps)) as usize,
            ffi::beit_host_flash_row_stride(to_int(head_dim)) as usize,
        )
    }
}

/// `beit_bias_offset`: the element of (head, query i, key j) in a bias of row stride `ld`.
pub fn bias_offset(head: usize, i: usize, j: usize, seq: usize, ld: usize) -> usize {
    // SAFETY: pure arithmetic.
    unsafe {
        ffi::beit_host_bias_offset(to_int(head), to_int(i), to_int(j), to_int(seq), to_int(ld)) as usize
    }
}

/// `beit_flash_bias_async`: whether the flash kernel copies the bias 16 bytes at a time.
pub fn flash_bias_async(address: u64, ld: usize) -> bool {
    // SAFETY: pure arithmetic.
    unsafe { ffi::beit_host_flash_bias_async(address, to_int(ld)) != 0 }
}

/// The flash kernel's bias tile row stride (elements), as its header says.
pub fn flash_bias_stride() -> usize {
    // SAFETY: pure arithmetic.
    unsafe { ffi::beit_host_flash_bias_stride() as usize }
}
