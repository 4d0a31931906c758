//! HF's `center_crop` (image_transforms.py) on packed u8 pixels. The offset is
//! `floor((size - crop) / 2)`; where the crop is larger than the image HF zero-pads it first by
//! `ceil((crop - size) / 2)` before, which lands on the same rule: output (y, x) is input
//! (top + y, left + x), or 0 outside the image.

use crate::image::decode::Pixels;

/// Crops (or zero-pads) `img` to `height x width` around its centre.
pub fn center_crop(img: &Pixels, height: usize, width: usize) -> Pixels {
    let c = img.channels;
    let top = (img.height as i64 - height as i64).div_euclid(2);
    let left = (img.width as i64 - width as i64).div_euclid(2);
    let mut data = vec![0u8; height * width * c];
    for y in 0..height {
        let sy = top + y as i64;
        if sy < 0 || sy >= img.height as i64 {
            continue;
        }
        // The run of columns that lies inside the image.
        let x0 = (-left).clamp(0, width as i64) as usize;
        let x1 = (img.width as i64 - left).clamp(0, width as i64) as usize;
        if x0 >= x1 {
            continue;
        }
        let src = (sy as usize * img.width + (left + x0 as i64) as usize) * c;
        data[(y * width + x0) * c..(y * width + x1) * c].copy_from_slice(&img.data[src..src + (x1 - x0) * c]);
    }
    Pixels {
        width,
        height,
        channels: c,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(width: usize, height: usize) -> Pixels {
        Pixels {
            width,
            height,
            channels: 1,
            data: (1..=(width * height) as u8).collect(),
        }
    }

    #[test]
    fn crops_with_the_offset_rounded_down() {
        // 5 wide -> 2: HF's left = (5 - 2) // 2 = 1.
        let out = center_crop(&grey(5, 1), 1, 2);
        assert_eq!(out.data, vec![2, 3]);
    }

    #[test]
    fn pads_with_zeros_extra_at_the_end() {
        // 2 wide -> 5: pad ceil(3 / 2) = 2 before, 1 after.
        let out = center_crop(&grey(2, 1), 1, 5);
        assert_eq!(out.data, vec![0, 0, 1, 2, 0]);
    }
}
