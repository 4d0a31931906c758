//! One image's way from decoded bytes to model pixels (resize, crop, rescale, normalize) as a
//! plan, and its CPU steps, the processor's own. `image::plan_op` runs it as a candle op (on CUDA,
//! kernels/preprocess.cu, which computes the same bits).

use crate::error::{BeitError, Result};
use crate::image::crop::center_crop;
use crate::image::decode::Pixels;
use crate::image::processor_config::ImageProcessorConfig;
use crate::image::resample::Resample;
use crate::image::resize::resize;

/// What happens to one RGB image: resize to `resize` (width, height) with `filter`, crop
/// `crop` (top, left, height, width; parts outside the image read 0, as HF pads), then
/// `rescale` and `normalize` (mean, std) when configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub filter: Resample,
    pub resize: Option<(usize, usize)>,
    pub crop: (i64, i64, usize, usize),
    pub rescale: Option<f64>,
    pub normalize: Option<([f32; 3], [f32; 3])>,
}

impl Plan {
    /// The plan of `cfg` for an image of `(height, width)`, as `BeitImageProcessor` applies it.
    pub fn new(cfg: &ImageProcessorConfig, (height, width): (usize, usize)) -> Result<Self> {
        let resize = cfg.do_resize.then(|| {
            let (h, w) = cfg.resize_size((height, width));
            (w, h)
        });
        let (rh, rw) = resize.map_or((height, width), |(w, h)| (h, w));
        if rh == 0 || rw == 0 {
            return Err(BeitError::Image(format!(
                "the {height}x{width} image resizes to {rh}x{rw} with this processor's size and \
                 ensure_multiple_of: give a larger image"
            )));
        }
        let crop = if cfg.do_center_crop {
            let (ch, cw) = cfg.crop_size.resolve((rh, rw));
            (
                (rh as i64 - ch as i64).div_euclid(2),
                (rw as i64 - cw as i64).div_euclid(2),
                ch,
                cw,
            )
        } else {
            (0, 0, rh, rw)
        };
        Ok(Self {
            filter: cfg.filter(),
            resize,
            crop,
            rescale: cfg.do_rescale.then_some(cfg.rescale_factor),
            normalize: if cfg.do_normalize {
                Some((cfg.mean()?, cfg.std()?))
            } else {
                None
            },
        })
    }

    /// (height, width) of the pixels the plan gives.
    pub fn output_size(&self) -> (usize, usize) {
        (self.crop.2, self.crop.3)
    }

    /// The CPU steps, as the processor takes them: resize, crop, then per value rescale in f64
    /// cast to f32 and normalize in f32.
    pub(crate) fn cpu(&self, img: Pixels) -> Vec<f32> {
        let img = match self.resize {
            Some((w, h)) => Pixels {
                data: resize(&img.data, (img.width, img.height, 3), (w, h), self.filter),
                width: w,
                height: h,
                channels: 3,
            },
            None => img,
        };
        let (top, left, ch, cw) = self.crop;
        let img = if (top, left, ch, cw) == (0, 0, img.height, img.width) {
            img
        } else {
            crop_at(&img, self.crop)
        };
        let plane = ch * cw;
        let mut out = vec![0f32; 3 * plane];
        for (i, px) in img.data.chunks_exact(3).enumerate() {
            for c in 0..3 {
                out[c * plane + i] = self.value(px[c], c);
            }
        }
        out
    }

    fn value(&self, v: u8, c: usize) -> f32 {
        let mut x = v as f32;
        if let Some(factor) = self.rescale {
            x = (v as f64 * factor) as f32;
        }
        if let Some((mean, std)) = self.normalize {
            x = (x - mean[c]) / std[c];
        }
        x
    }
}

/// `center_crop`'s result for the offsets the plan computed (the same rule, so the same crop).
fn crop_at(img: &Pixels, (_, _, h, w): (i64, i64, usize, usize)) -> Pixels {
    center_crop(img, h, w)
}
