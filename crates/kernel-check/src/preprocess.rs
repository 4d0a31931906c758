//! The preprocessing kernels (preprocess.cu): both resample passes and normalize.

use crate::{check_len, ffi, to_int};

/// A batch of packed u8 images `[batch, height, width, channels]`.
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl Batch {
    fn len(&self) -> usize {
        self.batch * self.height * self.width * self.channels
    }
}

/// One pass's taps, as `beit::image::resize::resample_taps` returns them.
pub struct Taps<'a> {
    pub bounds: &'a [i32],
    pub coeffs: &'a [i32],
    pub ksize: usize,
}

impl Taps<'_> {
    /// Output size of the pass; panics if any window leaves `[0, in_size)` or the tables disagree.
    fn out_size(&self, in_size: usize) -> usize {
        let out = self.bounds.len() / 2;
        check_len("coeffs", self.coeffs, out * self.ksize);
        for pair in self.bounds.chunks_exact(2) {
            let (first, n) = (pair[0] as usize, pair[1] as usize);
            assert!(
                first + n <= in_size && n <= self.ksize,
                "taps window {pair:?} outside {in_size}"
            );
        }
        out
    }
}

/// `beit_resample_h_u8`: every row of `src` to `taps.bounds.len() / 2` columns.
pub fn resample_h(src: &[u8], shape: Batch, taps: &Taps) -> Vec<u8> {
    check_len("src", src, shape.len());
    let out_w = taps.out_size(shape.width);
    let mut dst = vec![0u8; shape.batch * shape.height * out_w * shape.channels];
    // SAFETY: src and dst sizes checked, every tap window inside the row.
    unsafe {
        ffi::beit_host_resample_h_u8(
            src.as_ptr(),
            dst.as_mut_ptr(),
            to_int(shape.batch),
            to_int(shape.height),
            to_int(shape.width),
            to_int(out_w),
            to_int(shape.channels),
            taps.bounds.as_ptr(),
            taps.coeffs.as_ptr(),
            to_int(taps.ksize),
        );
    }
    dst
}

/// `beit_resample_v_u8`: every column of `src` to `taps.bounds.len() / 2` rows.
pub fn resample_v(src: &[u8], shape: Batch, taps: &Taps) -> Vec<u8> {
    check_len("src", src, shape.len());
    let out_h = taps.out_size(shape.height);
    let mut dst = vec![0u8; shape.batch * out_h * shape.width * shape.channels];
    // SAFETY: src and dst sizes checked, every tap window inside the column.
    unsafe {
        ffi::beit_host_resample_v_u8(
            src.as_ptr(),
            dst.as_mut_ptr(),
            to_int(shape.batch),
            to_int(shape.height),
            to_int(shape.width),
            to_int(out_h),
            to_int(shape.channels),
            taps.bounds.as_ptr(),
            taps.coeffs.as_ptr(),
            to_int(taps.ksize),
        );
    }
    dst
}

/// Crop window and per-channel constants of `beit_normalize_*`.
pub struct Normalize<'a> {
    pub top: i32,
    pub left: i32,
    pub out_h: usize,
    pub out_w: usize,
    pub factor: &'a [f64],
    pub mean: &'a [f32],
    pub std: &'a [f32],
    pub do_rescale: bool,
    pub do_normalize: bool,
}

/// `beit_normalize_f32`: crop, rescale, normalize, channels first `[batch, C, out_h, out_w]`.
pub fn normalize(src: &[u8], shape: Batch, n: &Normalize) -> Vec<f32> {
    check_len("src", src, shape.len());
    for (what, len) in [
        ("factor", n.factor.len()),
        ("mean", n.mean.len()),
        ("std", n.std.len()),
    ] {
        assert_eq!(len, shape.channels, "{what} needs one value per channel");
    }
    let mut dst = vec![f32::NAN; shape.batch * shape.channels * n.out_h * n.out_w];
    // SAFETY: src, dst and the per-channel tables sized as the kernel reads them (checked above).
    unsafe {
        ffi::beit_host_normalize_f32(
            src.as_ptr(),
            dst.as_mut_ptr(),
            to_int(shape.batch),
            to_int(shape.height),
            to_int(shape.width),
            to_int(shape.channels),
            n.top,
            n.left,
            to_int(n.out_h),
            to_int(n.out_w),
            n.factor.as_ptr(),
            n.mean.as_ptr(),
            n.std.as_ptr(),
            i32::from(n.do_rescale),
            i32::from(n.do_normalize),
        );
    }
    dst
}
