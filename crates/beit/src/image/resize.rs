//! Pillow's `Image.resize` for 8-bit images (libImaging/Resample.c), ported so our pixels equal
//! Python's: a separable convolution whose weights are computed in f64, normalised, then rounded
//! to 22-bit fixed point; horizontal pass first, uint8 between the passes, clipped with rounding.
//! NEAREST follows Pillow's affine path instead (`ImagingScaleAffine`).
//!
//! Written here rather than taken from a crate because none reproduces Pillow bit for bit, and
//! HF's numbers (hence ours) depend on it.

use rayon::prelude::*;

use crate::image::resample::Resample;

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// One output pixel's window into the input: first index, tap count, fixed-point weights.
struct Taps {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
}

/// Taps per output pixel of a pass from `in_size` to `out_size`, as `precompute` sizes them.
fn kernel_size(in_size: usize, out_size: usize, filter: Resample) -> u64 {
    let filterscale = (in_size as f64 / out_size as f64).max(1.0);
    (filter.support() * filterscale).ceil() as u64 * 2 + 1
}

/// The most values `resize` holds at once, in pixels: the output, the image between the passes
/// (every source row at the output width) and the weight tables (taps x output pixels). Bounded
/// by the caller: a 1-pixel-wide, million-row PNG is a small file whose resize would otherwise
/// take gigabytes and minutes.
pub fn working_pixels((w, h): (usize, usize), (out_w, out_h): (usize, usize), filter: Resample) -> u64 {
    let (w, h, out_w, out_h) = (w as u64, h as u64, out_w as u64, out_h as u64);
    let output = out_w.saturating_mul(out_h);
    if filter == Resample::Nearest {
        return output;
    }
    let between = h.saturating_mul(out_w);
    let taps = out_w
        .saturating_mul(kernel_size(w as usize, out_w as usize, filter))
        .saturating_add(out_h.saturating_mul(kernel_size(h as usize, out_h as usize, filter)));
    output.max(between).max(taps)
}

/// Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`.
fn precompute(in_size: usize, out_size: usize, filter: Resample) -> Taps {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin;
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(xmax) {
            *kx = filter.kernel((x as f64 + xmin as f64 - center + 0.5) * ss);
            ww += *kx;
        }
        for x in 0..xmax {
            let w = if ww != 0.0 { k[x] / ww } else { k[x] };
            let fixed = w * (1u32 << PRECISION_BITS) as f64;
            weights[xx * ksize + x] = if w < 0.0 {
                (fixed - 0.5) as i32
            } else {
                (fixed + 0.5) as i32
            };
        }
        bounds.push((xmin, xmax));
    }
    Taps {
        ksize,
        bounds,
        weights,
    }
}

/// One pass's taps as flat tables for a GPU: `bounds` holds (first input index, tap count) per
/// output pixel, `coeffs` `ksize` 22-bit fixed-point weights per output pixel (unused ones 0), as
/// the CPU pass reads them. NEAREST, which the CPU resizes by index instead, comes as one tap of
/// weight 1.0 at Pillow's nearest index, which gives the same bytes. A pass whose size does not
/// change is the identity (the CPU skips it; these taps reproduce the input).
pub fn resample_taps(in_size: usize, out_size: usize, filter: Resample) -> (Vec<i32>, Vec<i32>, usize) {
    if filter == Resample::Nearest {
        let bounds = nearest_indices(in_size, out_size)
            .into_iter()
            .flat_map(|i| [i as i32, 1])
            .collect();
        return (bounds, vec![1 << PRECISION_BITS; out_size], 1);
    }
    let taps = precompute(in_size, out_size, filter);
    let bounds = taps
        .bounds
        .iter()
        .flat_map(|&(first, n)| [first as i32, n as i32])
        .collect();
    (bounds, taps.weights, taps.ksize)
}

fn clip8(v: i32) -> u8 {
    if v >= (1 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// One pass along rows: `src` rows `[row0, row0 + rows)` of width `in_w` to width `out_w`.
fn horizontal(src: &[u8], in_w: usize, c: usize, row0: usize, rows: usize, taps: &Taps) -> Vec<u8> {
    let out_w = taps.bounds.len();
    let mut out = vec![0u8; rows * out_w * c];
    out.par_chunks_mut(out_w * c).enumerate().for_each(|(y, dst)| {
        let line = &src[(row0 + y) * in_w * c..(row0 + y + 1) * in_w * c];
        for (xx, &(xmin, xmax)) in taps.bounds.iter().enumerate() {
            let k = &taps.weights[xx * taps.ksize..xx * taps.ksize + xmax];
            for ch in 0..c {
                let mut ss = 1i32 << (PRECISION_BITS - 1);
                for (x, &w) in k.iter().enumerate() {
                    ss += line[(x + xmin) * c + ch] as i32 * w;
                }
                dst[xx * c + ch] = clip8(ss);
            }
        }
    });
    out
}

/// One pass along columns: `src` (`w` wide) to `taps.bounds.len()` rows.
fn vertical(src: &[u8], w: usize, c: usize, taps: &Taps) -> Vec<u8> {
    let out_h = taps.bounds.len();
    let mut out = vec![0u8; out_h * w * c];
    out.par_chunks_mut(w * c).enumerate().for_each(|(yy, dst)| {
        let (ymin, ymax) = taps.bounds[yy];
        let k = &taps.weights[yy * taps.ksize..yy * taps.ksize + ymax];
        for (i, d) in dst.iter_mut().enumerate() {
            let mut ss = 1i32 << (PRECISION_BITS - 1);
            for (y, &wt) in k.iter().enumerate() {
                ss += src[(y + ymin) * w * c + i] as i32 * wt;
            }
            *d = clip8(ss);
        }
    });
    out
}

/// Pillow's NEAREST: source index `floor(scale * (x + 0.5))`, accumulated in f64 as Pillow does.
fn nearest_indices(in_size: usize, out_size: usize) -> Vec<usize> {
    let step = in_size as f64 / out_size as f64;
    let mut pos = step * 0.5;
    (0..out_size)
        .map(|_| {
            let i = (pos as usize).min(in_size - 1);
            pos += step;
            i
        })
        .collect()
}

fn resize_nearest(src: &[u8], w: usize, h: usize, c: usize, out_w: usize, out_h: usize) -> Vec<u8> {
    let xs = nearest_indices(w, out_w);
    let ys = nearest_indices(h, out_h);
    let mut out = vec![0u8; out_w * out_h * c];
    out.par_chunks_mut(out_w * c)
        .zip(ys.par_iter())
        .for_each(|(dst, &y)| {
            for (xx, &x) in xs.iter().enumerate() {
                dst[xx * c..(xx + 1) * c].copy_from_slice(&src[(y * w + x) * c..(y * w + x + 1) * c]);
            }
        });
    out
}

/// Resizes a packed `h x w x c` u8 image to `out_h x out_w`, bit-identical to Pillow.
pub fn resize(
    src: &[u8],
    (w, h, c): (usize, usize, usize),
    (out_w, out_h): (usize, usize),
    filter: Resample,
) -> Vec<u8> {
    if filter == Resample::Nearest {
        return resize_nearest(src, w, h, c, out_w, out_h);
    }
    let horiz = precompute(w, out_w, filter);
    let mut vert = precompute(h, out_h, filter);
    let mut img = src.to_vec();
    if out_w != w {
        // Only the rows the vertical pass reads are resized horizontally.
        let first = vert.bounds[0].0;
        let last = vert.bounds.last().map_or(h, |&(lo, n)| lo + n);
        for b in vert.bounds.iter_mut() {
            b.0 -= first;
        }
        // When out_h == h the window spans every row, so nothing is dropped.
        img = horizontal(src, w, c, first, last - first, &horiz);
    }
    if out_h != h {
        img = vertical(&img, out_w, c, &vert);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_identity() {
        let src: Vec<u8> = (0..48).map(|v| (v * 5) as u8).collect();
        assert_eq!(resize(&src, (4, 4, 3), (4, 4), Resample::Bicubic), src);
    }

    #[test]
    fn nearest_picks_pillow_centres() {
        // Pillow: 4 -> 2 reads columns 1 and 3; 2 -> 4 repeats each column twice.
        assert_eq!(nearest_indices(4, 2), vec![1, 3]);
        assert_eq!(nearest_indices(2, 4), vec![0, 0, 1, 1]);
    }
}
