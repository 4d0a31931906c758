//! A `Plan` as a candle op: on the CPU the processor's own steps, on CUDA kernels/preprocess.cu,
//! which computes the same bits. The processor runs it on the GPU when a model lives there, so only
//! the decoded bytes cross the bus.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use crate::error::{BeitError, Result};
use crate::image::decode::Pixels;
use crate::image::pixel_plan::Plan;

impl Plan {
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

    use crate::image::decode::{decode_rgb, ImageSource};
    use crate::image::pixel_plan::Plan;
    use crate::image::processor::BeitImageProcessor;
    use crate::image::processor_config::ImageProcessorConfig;
    use crate::limits::DEFAULT_MAX_PIXELS;

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
