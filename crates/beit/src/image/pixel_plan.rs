//! One image's way from decoded bytes to model pixels (resize, crop, rescale, normalize) as a
//! plan, and that plan as a candle op: on the CPU the processor's own steps, on CUDA
//! kernels/preprocess.cu, which computes the same bits. The processor runs it on the GPU when a
//! model lives there, so only the decoded bytes cross the bus.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

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

    /// The plan applied to `image` (`[H, W, 3]` u8, on any device): f32 `[3, H', W']`.
    pub fn apply(&self, image: &Tensor) -> Result<Tensor> {
        let (_, _, channels) = image.dims3()?;
        if channels != 3 {
            return Err(BeitError::Image(format!(
                "expected RGB pixels, got {channels} channels"
            )));
        }
        Ok(image.contiguous()?.apply_op1_no_bwd(self)?)
    }

    /// The CPU steps, as the processor takes them: resize, crop, then per value rescale in f64
    /// cast to f32 and normalize in f32.
    fn cpu(&self, img: Pixels) -> Vec<f32> {
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

impl CustomOp1 for Plan {
    fn name(&self) -> &'static str {
        "beit-preprocess"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::U8(all), Some((start, end))) = (storage, layout.contiguous_offsets()) else {
            candle_core::bail!("beit-preprocess: expected contiguous u8 pixels");
        };
        let (height, width, _) = layout.shape().dims3()?;
        let img = Pixels {
            width,
            height,
            channels: 3,
            data: all[start..end].to_vec(),
        };
        let (h, w) = self.output_size();
        Ok((CpuStorage::F32(self.cpu(img)), Shape::from((3, h, w))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        storage: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        use candle_core::backend::BackendStorage;
        let (height, width, _) = layout.shape().dims3()?;
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("beit-preprocess: expected contiguous pixels");
        };
        // The bytes go up once, already on the device: the launches read them from there.
        let bytes = storage.as_cuda_slice::<u8>()?;
        let pixels = crate::cuda::preprocess::preprocess(
            storage.device(),
            &bytes.slice(start..end),
            (width, height),
            self,
        )?;
        let (h, w) = self.output_size();
        Ok((pixels, Shape::from((3, h, w))))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use candle_core::{Device, Tensor};

    use super::Plan;
    use crate::image::decode::{decode_rgb, ImageSource, DEFAULT_MAX_PIXELS};
    use crate::image::processor::BeitImageProcessor;
    use crate::image::processor_config::ImageProcessorConfig;

    /// The plan, run as an op (on the CPU here; its CUDA side computes the same steps), gives the
    /// processor's pixels exactly: resize by every filter, crops inside and beyond the image, no
    /// resize, no normalize.
    #[test]
    fn plan_gives_the_processors_pixels() -> crate::Result<()> {
        let configs = [
            r#"{"size": {"height": 224, "width": 224}, "do_center_crop": false, "resample": 2}"#,
            r#"{"size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224}, "resample": 3}"#,
            r#"{"size": {"height": 100, "width": 80}, "crop_size": {"height": 120, "width": 77}, "resample": 1}"#,
            r#"{"do_resize": false, "crop_size": {"height": 64, "width": 640}, "do_normalize": false}"#,
            r#"{"size": {"height": 33, "width": 47}, "do_center_crop": false, "do_rescale": false, "resample": 4}"#,
        ];
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images/chelsea.png");
        let source = ImageSource::Path(path);
        let img = decode_rgb(&source, DEFAULT_MAX_PIXELS)?;
        for json in configs {
            let cfg = ImageProcessorConfig::from_json_str(json)?;
            let want =
                BeitImageProcessor::new(cfg.clone()).preprocess(std::slice::from_ref(&source), None)?;
            let bytes = Tensor::from_slice(&img.data, (img.height, img.width, 3), &Device::Cpu)?;
            let got = Plan::new(&cfg, (img.height, img.width))?
                .apply(&bytes)?
                .unsqueeze(0)?;
            assert_eq!(got.dims(), want.pixel_values.dims(), "{json}");
            let (got, want) = (
                got.flatten_all()?.to_vec1::<f32>()?,
                want.pixel_values.flatten_all()?.to_vec1::<f32>()?,
            );
            assert!(
                got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()),
                "{json}"
            );
        }
        Ok(())
    }
}
