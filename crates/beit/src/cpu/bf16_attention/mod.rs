//! Attention's two matmuls with bf16 products, for `dtype: 'bfloat16'` where the CPU multiplies
//! bf16 (AVX512_BF16: Zen 4, Sapphire Rapids and later; on arm64 the `mmla` level's `bfmmla`:
//! Graviton 3 and later, Apple M2 and later). Elsewhere they stay f32: without bf16 arithmetic,
//! widening the pairs costs more than the f32 matmuls it would replace.
//!
//! Per (image, head) as `ops::attention` does, with the same biased softmax in f32; only the
//! operands differ: Q and K rounded to bf16 for the scores (f32 sums, scaled in f32), the
//! probabilities and V rounded to bf16 for the context (f32 sums). PyTorch's CPU autocast runs
//! both matmuls in bf16 as well, and also rounds their results, which this does not. Keys and
//! values are packed per head as `ops::bf16_linear` packs a layer's weights (tiles of 16 channels,
//! pairs of inputs side by side), so its `vdpbf16ps` kernel on pairs of tiles computes both, and
//! at the `amx` level the tile unit's (`amx::pairs_by_rows`, operands padded to its step of 32).
//! What it gained is in bench/README.md, "Kernel choices". On arm64 keys and values are packed in
//! the pairs layout of `cpu::gemm::tile_layout` for `mmla`'s kernel instead; its speed there is not
//! measured yet.
//!
//! Here are the head's steps (`attend_head`) and its buffers; what an instruction set offers for
//! them is a table (`kernels::AttentionKernels`, from `cpu::arch::native::bf16_attention_kernels`),
//! the packing and the products being in the arch files.

#[allow(
    dead_code,
    reason = "where no instruction set multiplies bf16, no kernel uses it"
)]
pub mod kernels;

use crate::cpu::arch::native::bf16_attention_kernels;
pub(crate) use crate::cpu::bf16_attention::kernels::{AttentionKernels, Product, Rounded, Rows};
use crate::cpu::level::active;

/// The kernels of the active CPU level, if it multiplies bf16.
pub(crate) fn kernels() -> Option<AttentionKernels> {
    bf16_attention_kernels(active())
}

/// Whether the attention runs its matmuls with bf16 products at the active CPU level when asked
/// to (`AttentionPrecision::Bfloat16`); where not, they are f32.
pub fn available() -> bool {
    kernels().is_some()
}

/// One head of one image in the fused `[S, 3D]` projection: row `r` of K at `k + r * row`, of V
/// likewise, `s` rows; the `queries` rows of Q (a block of them, or all `s`) from `q`; `head_dim`
/// values each.
#[derive(Clone, Copy)]
pub(crate) struct HeadInputs {
    pub q: *const f32,
    pub k: *const f32,
    pub v: *const f32,
    pub row: usize,
    pub s: usize,
    pub queries: usize,
    pub head_dim: usize,
}

/// A thread's buffers for one head's bf16 operands, reused from head to head.
#[derive(Default)]
pub(crate) struct Operands {
    /// Keys or values rounded, before packing.
    rounded: Vec<u16>,
    queries: Vec<u16>,
    keys: Vec<u16>,
    probs: Vec<u16>,
    values: Vec<u16>,
}

/// `softmax(scale * Q K^T + bias) V` for one head's queries into `context` (row `r` at `context +
/// r * stride`, `head_dim` values), `softmax` applying the biased softmax to the `queries x S`
/// `scores` in place.
///
/// # Safety
/// `kernels` are the CPU's; `head` points to readable rows as described; no other thread writes these
/// `queries x head_dim` values of `context`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn attend_head(
    kernels: &AttentionKernels,
    head: HeadInputs,
    scale: f32,
    softmax: impl FnOnce(&mut [f32]),
    scores: &mut [f32],
    operands: &mut Operands,
    context: *mut f32,
    stride: usize,
) {
    let HeadInputs {
        s, queries, head_dim, ..
    } = head;
    assert!(scores.len() == queries * s);
    let AttentionKernels {
        step,
        round_rows,
        pack_keys,
        pack_values,
        products,
    } = *kernels;
    let rows = |src: *const f32| Rows {
        src,
        rows: s,
        len: head_dim,
        stride: head.row,
        step,
    };
    let k_head = round_rows(
        Rows {
            rows: queries,
            ..rows(head.q)
        },
        &mut operands.queries,
    );
    round_rows(rows(head.k), &mut operands.rounded);
    // Both the keys and the values are `head_dim` wide, padded to `k_head`.
    let rounded = Rounded {
        values: &[],
        s,
        len: head_dim,
        width: k_head,
    };
    pack_keys(
        Rounded {
            values: &operands.rounded,
            ..rounded
        },
        &mut operands.keys,
    );
    products(Product {
        x: &operands.queries,
        k_pad: k_head,
        rows: queries,
        w: &operands.keys,
        cols: s,
        scale,
        out: scores.as_mut_ptr(),
        stride: s,
    });
    softmax(scores);
    let probs = Rows {
        rows: queries,
        len: s,
        stride: s,
        ..rows(scores.as_ptr())
    };
    let k_seq = round_rows(probs, &mut operands.probs);
    round_rows(rows(head.v), &mut operands.rounded);
    pack_values(
        Rounded {
            values: &operands.rounded,
            ..rounded
        },
        step,
        &mut operands.values,
    );
    products(Product {
        x: &operands.probs,
        k_pad: k_seq,
        rows: queries,
        w: &operands.values,
        cols: head_dim,
        scale: 1.0,
        out: context,
        stride,
    });
}
