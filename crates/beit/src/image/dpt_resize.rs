//! DPTImageProcessor's output size (image_processing_dpt.py, `get_resize_output_image_size`):
//! with `keep_aspect_ratio`, both sides scale by whichever of the two scales is nearer 1 ("scale
//! as little as possible"); each side is then rounded to a multiple of `ensure_multiple_of`.

/// HF's `constrain_to_multiple_of(val, multiple)` without bounds: `round(val / m) * m`, with
/// Python's round (ties to even), and the next multiple up where that rounds to 0 (HF's
/// `min_val=0` check never fires for positive values, so a tiny side can come out 0, which the
/// processor then refuses).
fn to_multiple(value: f64, multiple: usize) -> usize {
    let m = multiple.max(1) as f64;
    ((value / m).round_ties_even() * m) as usize
}

/// The (height, width) an image of `input` (height, width) is resized to for `target`.
pub fn dpt_output_size(
    (in_h, in_w): (usize, usize),
    (out_h, out_w): (usize, usize),
    keep_aspect_ratio: bool,
    multiple: usize,
) -> (usize, usize) {
    let mut scale_h = out_h as f64 / in_h as f64;
    let mut scale_w = out_w as f64 / in_w as f64;
    if keep_aspect_ratio {
        if (1.0 - scale_w).abs() < (1.0 - scale_h).abs() {
            scale_h = scale_w;
        } else {
            scale_w = scale_h;
        }
    }
    (
        to_multiple(scale_h * in_h as f64, multiple),
        to_multiple(scale_w * in_w as f64, multiple),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values worked through HF's function by hand: chelsea (300x451) to 384 keeping its aspect
    /// ratio in multiples of 32 fits the width (0.851 is nearer 1 than 1.28) and rounds the height
    /// 255.4 to 256; a tie rounds to even as Python does.
    #[test]
    fn keeps_the_aspect_ratio_and_rounds_to_multiples_as_hf() {
        assert_eq!(dpt_output_size((300, 451), (384, 384), true, 32), (256, 384));
        assert_eq!(dpt_output_size((300, 451), (384, 384), false, 32), (384, 384));
        assert_eq!(dpt_output_size((300, 451), (384, 384), false, 1), (384, 384));
        assert_eq!(dpt_output_size((512, 512), (384, 384), true, 1), (384, 384));
        // 80 / 32 = 2.5 rounds to 2 (ties to even): 64, not 96.
        assert_eq!(dpt_output_size((80, 80), (80, 80), false, 32), (64, 64));
    }
}
