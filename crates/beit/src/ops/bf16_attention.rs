//! Attention's two matmuls with bf16 products, for `dtype: 'bfloat16'` where the CPU multiplies
//! bf16 (AVX512_BF16: Zen 4, Sapphire Rapids and later; on arm64 the `mmla` level's `bfmmla`:
//! Graviton 3 and later, Apple M2 and later). Elsewhere they stay f32: without bf16 arithmetic,
//! widening the pairs costs more than the f32 matmuls it would replace.
//!
//! Per (image, head) as `ops::attention` does, with the same biased softmax in f32; only the
//! operands differ: Q and K rounded to bf16 for the scores (f32 sums, scaled in f32), the
//! probabilities and V rounded to bf16 for the context (f32 sums). PyTorch's CPU autocast runs
//! both matmuls in bf16 as well, and also rounds their results, which this does not. Keys and
//! values are packed per head as `bf16_linear` packs a layer's weights (tiles of 16 channels,
//! pairs of inputs side by side), so its `vdpbf16ps` kernel on pairs of tiles computes both, and
//! at the `amx` level the tile unit's (`amx::pairs_by_rows`, operands padded to its step of 32).
//! What it gained is in bench/README.md, "Kernel choices". On arm64 (module `arm`) keys and values
//! are packed in the pairs layout of `cpu::gemm::tile_layout` for `arm_mmla`'s kernel instead; its speed
//! there is not measured yet.

#[cfg(target_arch = "x86_64")]
use crate::cpu::arch::native::amx::{self, Operands as _};
#[cfg(target_arch = "x86_64")]
use crate::cpu::arch::native::avx512::bf16::pair_microkernel;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::cpu::gemm::bf16::to_bf16;
#[cfg(target_arch = "x86_64")]
use crate::cpu::gemm::{bf16::WIDE_MR, tile_layout::NR};
#[cfg(target_arch = "x86_64")]
use crate::cpu::level::{self as cpu_level, active, CpuLevel};

/// Whether the attention runs its matmuls with bf16 products at the active CPU level when asked
/// to (`AttentionPrecision::Bfloat16`); where not, they are f32.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        active() >= CpuLevel::Avx512 && cpu_level::has_avx512_bf16()
    }
    #[cfg(target_arch = "aarch64")]
    {
        crate::cpu::level::active() == crate::cpu::level::CpuLevel::Mmla
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// One head of one image in the fused `[S, 3D]` projection: row `r` of Q at `q + r * row`, of K
/// and V likewise; `head_dim` values each.
#[derive(Clone, Copy)]
pub(crate) struct HeadInputs {
    pub q: *const f32,
    pub k: *const f32,
    pub v: *const f32,
    pub row: usize,
    pub s: usize,
    pub head_dim: usize,
}

/// A thread's buffers for one head's bf16 operands, reused from head to head.
#[derive(Default)]
#[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), allow(dead_code))] // `available()` is false there
pub(crate) struct Operands {
    /// Keys or values rounded, before packing.
    rounded: Vec<u16>,
    queries: Vec<u16>,
    keys: Vec<u16>,
    probs: Vec<u16>,
    values: Vec<u16>,
}

/// `softmax(scale * Q K^T + bias) V` for one head into `context` (row `r` at `context + r *
/// stride`, `head_dim` values), `softmax` applying the biased softmax to the `S x S` `scores` in
/// place.
///
/// # Safety
/// `available()`; `head` points to readable rows as described; no other thread writes these
/// `S x head_dim` values of `context`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) unsafe fn attend_head(
    head: HeadInputs,
    scale: f32,
    softmax: impl FnOnce(&mut [f32]),
    scores: &mut [f32],
    operands: &mut Operands,
    context: *mut f32,
    stride: usize,
) {
    let HeadInputs { s, head_dim, .. } = head;
    assert!(scores.len() == s * s);
    let k_head = pack_rows(head.q, s, head_dim, head.row, &mut operands.queries);
    pack_rows(head.k, s, head_dim, head.row, &mut operands.rounded);
    pack_keys(&operands.rounded, s, k_head, &mut operands.keys);
    products(Product {
        x: &operands.queries,
        k_pad: k_head,
        rows: s,
        w: &operands.keys,
        cols: s,
        scale,
        out: scores.as_mut_ptr(),
        stride: s,
    });
    softmax(scores);
    let k_seq = pack_rows(scores.as_ptr(), s, s, s, &mut operands.probs);
    pack_rows(head.v, s, head_dim, head.row, &mut operands.rounded);
    pack_values(&operands.rounded, s, head_dim, k_head, &mut operands.values);
    products(Product {
        x: &operands.probs,
        k_pad: k_seq,
        rows: s,
        w: &operands.values,
        cols: head_dim,
        scale: 1.0,
        out: context,
        stride,
    });
}

/// One of a head's two matmuls: `out[r][c] = scale * sum_i x[r][i] w[c][i]` for `rows` rows of
/// `x` (bf16, `k_pad` apart) and the first `cols` channels of the packed tiles `w`; row `r` of
/// `out` at `out + r * stride`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[derive(Clone, Copy)]
struct Product<'a> {
    x: &'a [u16],
    k_pad: usize,
    rows: usize,
    w: &'a [u16],
    cols: usize,
    scale: f32,
    out: *mut f32,
    stride: usize,
}

#[cfg(target_arch = "aarch64")]
use arm::{pack_keys, pack_rows, pack_values, products};

/// Never called: `available()` is false on this architecture.
///
/// # Safety
/// None needed; it panics.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) unsafe fn attend_head(
    _: HeadInputs,
    _: f32,
    _: impl FnOnce(&mut [f32]),
    _: &mut [f32],
    _: &mut Operands,
    _: *mut f32,
    _: usize,
) {
    unreachable!("bf16 attention without bf16 arithmetic")
}

/// Whether the matmuls run on the AMX tile unit (`amx_products`) rather than `vdpbf16ps`.
#[cfg(target_arch = "x86_64")]
fn on_tiles() -> bool {
    active() == CpuLevel::Amx
}

/// Inputs per step of the kernel: a pair for `vdpbf16ps`, a tile row (32) on the tile unit. The
/// rows and the values' keys are padded with zeros to it.
#[cfg(target_arch = "x86_64")]
fn step() -> usize {
    if on_tiles() {
        amx::Bf16::K_STEP
    } else {
        2
    }
}

/// `rows` rows of `len` values (row `r` at `src + r * stride`) rounded to bf16 into `dst`, each
/// padded with zeros to the kernel's `step()`; that length. Written once, not zeroed first: the
/// probabilities are 78 KB a head at 197 tokens.
///
/// # Safety
/// The rows are readable.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn pack_rows(src: *const f32, rows: usize, len: usize, stride: usize, dst: &mut Vec<u16>) -> usize {
    round_rows(src, rows, len, stride, step(), dst)
}

/// `rows` rows of `len` values (row `r` at `src + r * stride`) rounded to bf16 into `dst`, each
/// padded with zeros to a multiple of `step`; that length.
///
/// # Safety
/// The rows are readable.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
unsafe fn round_rows(
    src: *const f32,
    rows: usize,
    len: usize,
    stride: usize,
    step: usize,
    dst: &mut Vec<u16>,
) -> usize {
    let k_pad = len.next_multiple_of(step);
    dst.clear();
    dst.reserve(rows * k_pad);
    for r in 0..rows {
        let row = std::slice::from_raw_parts(src.add(r * stride), len);
        dst.extend(row.iter().map(|&x| to_bf16(x)));
        dst.extend(std::iter::repeat_n(0, k_pad - len));
    }
    k_pad
}

/// The keys of one head (`s` rows of `head_dim`, rounded by `pack_rows` into `rounded`) as
/// `bf16_linear` packs a weight: tiles of `NR` keys, per pair of the head's channels each key's
/// two values side by side. Those two are already neighbours in a key's row, so this moves pairs
/// (u32s) from 16 rows into one tile; the tiles in whole pairs (the kernel takes two), zeros past
/// the last key.
#[cfg(target_arch = "x86_64")]
fn pack_keys(rounded: &[u16], s: usize, k_pad: usize, dst: &mut Vec<u16>) {
    let pairs = k_pad / 2;
    let tiles = s.div_ceil(NR).next_multiple_of(2);
    dst.clear();
    dst.reserve(tiles * k_pad * NR);
    for tile in 0..tiles {
        for p in 0..pairs {
            for key in tile * NR..(tile + 1) * NR {
                let pair = rounded.get(key * k_pad + 2 * p..key * k_pad + 2 * p + 2);
                dst.extend_from_slice(pair.unwrap_or(&[0, 0]));
            }
        }
    }
}

/// The values of one head (`s` rows of `head_dim`, rounded by `pack_rows` into `rounded` at
/// stride `width`) as a weight of `head_dim` channels over `s` inputs: tiles of `NR` channels, per
/// pair of keys the two keys' values side by side (an interleave of two rows), keys padded to the
/// kernel's `step()` as `pack_rows` pads the probabilities; the tiles in whole pairs, zeros past
/// the ends.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn pack_values(rounded: &[u16], s: usize, head_dim: usize, width: usize, dst: &mut Vec<u16>) {
    let k_pad = s.next_multiple_of(step());
    let tiles = head_dim.div_ceil(NR).next_multiple_of(2);
    dst.clear();
    dst.reserve(tiles * k_pad * NR);
    let row = |key: usize, c0: usize| -> [u16; NR] {
        let mut lanes = [0; NR];
        let used = NR.min(head_dim.saturating_sub(c0));
        if key < s && used > 0 {
            lanes[..used].copy_from_slice(&rounded[key * width + c0..][..used]);
        }
        lanes
    };
    for tile in 0..tiles {
        for p in 0..k_pad / 2 {
            let (even, odd) = (row(2 * p, tile * NR), row(2 * p + 1, tile * NR));
            dst.extend(even.iter().zip(&odd).flat_map(|(&e, &o)| [e, o]));
        }
    }
}

/// `p`, its tiles packed for `vdpbf16ps`, or on the tile unit at the `Amx` level.
///
/// # Safety
/// `available()`; `x` holds `rows * k_pad` values, `w` whole pairs of tiles of `k_pad / 2` pairs
/// covering `cols` channels; the rows of `out` are writable.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
unsafe fn products(p: Product) {
    if on_tiles() {
        return amx_products(p);
    }
    let (k_pad, tile) = (p.k_pad, p.k_pad * NR);
    assert!(p.x.len() >= p.rows * k_pad && p.w.len() >= p.cols.div_ceil(2 * NR) * 2 * tile);
    let mut sums = [[0f32; 2 * NR]; WIDE_MR];
    // Each pair of tiles (at most 2 x 16 x 198 values here) stays in L1 while the rows go by.
    for pair in 0..p.cols.div_ceil(2 * NR) {
        let tiles = [2 * pair, 2 * pair + 1].map(|t| p.w[t * tile..].as_ptr());
        for row in (0..p.rows).step_by(WIDE_MR) {
            let mr = WIDE_MR.min(p.rows - row);
            pair_microkernel(p.x[row * k_pad..].as_ptr(), k_pad, mr, tiles, &mut sums);
            p.put(row, pair * 2 * NR, &sums[..mr]);
        }
    }
}

/// `products` on the AMX tile unit (`tdpbf16ps`, 32 rows by a pair of tiles a call, `k_pad` a
/// multiple of its step of 32): where the CPU has it, it outruns `vdpbf16ps` here as in the linear
/// layers (bench/README.md, "Kernel choices").
///
/// # Safety
/// As `products`, at the `Amx` level; no tile configuration is alive on this thread.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn amx_products(p: Product) {
    let (k_pad, tile, pairs) = (p.k_pad, p.k_pad * NR, p.cols.div_ceil(2 * NR));
    assert!(k_pad.is_multiple_of(amx::Bf16::K_STEP) && p.w.len() >= pairs * 2 * tile);
    amx::pairs_by_rows::<amx::Bf16>(
        p.x,
        k_pad,
        0..p.rows,
        pairs,
        |pair| [2 * pair, 2 * pair + 1].map(|t| p.w[t * tile..].as_ptr()),
        |pair, row, sums, n| put_wide(&p, row, pair * 2 * NR, &sums[..n]),
    );
}

/// `Product::put` compiled for AVX-512, for the tile unit's closure (a closure does not inherit
/// its function's target features).
///
/// # Safety
/// As `Product::put`, on a CPU with AVX-512 F/BW/VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn put_wide(p: &Product, row: usize, c0: usize, sums: &[[f32; 2 * NR]]) {
    p.put(row, c0, sums);
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
impl Product<'_> {
    /// The sums of consecutive rows from `row`, for the channels from `c0` (as many as `cols`
    /// has), times `scale` into `out`.
    ///
    /// # Safety
    /// Those values of `out` are writable and written by no other thread.
    #[inline(always)]
    unsafe fn put<const N: usize>(&self, row: usize, c0: usize, sums: &[[f32; N]]) {
        let n = N.min(self.cols - c0);
        for (r, sums) in sums.iter().enumerate() {
            let dst = std::slice::from_raw_parts_mut(self.out.add((row + r) * self.stride + c0), n);
            dst.iter_mut().zip(sums).for_each(|(d, &v)| *d = v * self.scale);
        }
    }
}

/// `attend_head`'s steps for arm64's `mmla` level: the same roundings, with Q, K, V and the
/// probabilities padded to a multiple of four values (`bfmmla`'s step) and K and V packed as
/// `bf16_linear` packs a weight there (tiles of 16 channels in `TileLayout::Pairs`), for
/// `arm_mmla::bf16_microkernel`.
#[cfg(target_arch = "aarch64")]
mod arm {
    use crate::cpu::arch::native::mmla::{bf16_microkernel, MR};
    use crate::cpu::gemm::tile_layout::{TileLayout, NR};

    /// `bfmmla` takes four inputs a step.
    const STEP: usize = 4;

    /// `super::round_rows` to `bfmmla`'s step.
    ///
    /// # Safety
    /// The rows are readable.
    pub(super) unsafe fn pack_rows(
        src: *const f32,
        rows: usize,
        len: usize,
        stride: usize,
        dst: &mut Vec<u16>,
    ) -> usize {
        super::round_rows(src, rows, len, stride, STEP, dst)
    }

    /// The keys of one head (`s` rows of `k_pad` values in `rounded`) as a weight of `s` channels
    /// over `k_pad` inputs (`pack`).
    pub(super) fn pack_keys(rounded: &[u16], s: usize, k_pad: usize, dst: &mut Vec<u16>) {
        pack(s, k_pad, |key, i| rounded[key * k_pad + i], dst);
    }

    /// The values of one head (`s` rows of `head_dim` in `rounded`, `width` apart) as a weight of
    /// `head_dim` channels over the keys, padded to `STEP` (`pack`).
    ///
    /// # Safety
    /// None: `unsafe` as its x86 namesake, so that one `attend_head` calls either.
    pub(super) unsafe fn pack_values(
        rounded: &[u16],
        s: usize,
        head_dim: usize,
        width: usize,
        dst: &mut Vec<u16>,
    ) {
        let value = |c: usize, key: usize| if key < s { rounded[key * width + c] } else { 0 };
        pack(head_dim, s.next_multiple_of(STEP), value, dst);
    }

    /// A weight of `channels` channels over `k_pad` inputs, channel `c`'s input `k` being
    /// `value(c, k)`, in tiles of `NR` channels in the pairs layout; zeros past the last channel.
    fn pack(channels: usize, k_pad: usize, value: impl Fn(usize, usize) -> u16, dst: &mut Vec<u16>) {
        let tile = k_pad * NR;
        dst.clear();
        dst.resize(channels.div_ceil(NR) * tile, 0);
        for c in 0..channels {
            let (t, lane) = (c / NR, c % NR);
            for k in 0..k_pad {
                dst[t * tile + TileLayout::Pairs.index(2, k, lane)] = value(c, k);
            }
        }
    }

    /// `p`, its tiles `pack`'s.
    ///
    /// # Safety
    /// BF16 is present; `x` holds `rows * k_pad` values and `w` the tiles of `cols` channels over
    /// `k_pad` inputs (a multiple of `STEP`); the rows of `out` are writable.
    pub(super) unsafe fn products(p: super::Product) {
        let (k_pad, tile) = (p.k_pad, p.k_pad * NR);
        assert!(
            k_pad.is_multiple_of(STEP)
                && p.x.len() >= p.rows * k_pad
                && p.w.len() >= p.cols.div_ceil(NR) * tile
        );
        let mut sums = [[0f32; NR]; MR];
        // Each tile (at most 16 x 200 values here) stays in L1 while the rows go by.
        for t in 0..p.cols.div_ceil(NR) {
            for row in (0..p.rows).step_by(MR) {
                let mr = MR.min(p.rows - row);
                let (x, w) = (p.x[row * k_pad..].as_ptr(), p.w[t * tile..].as_ptr());
                bf16_microkernel(x, k_pad, mr, w, k_pad / STEP, &mut sums);
                p.put(row, t * NR, &sums[..mr]);
            }
        }
    }
}
