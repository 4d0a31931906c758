//! `BeitImageProcessor` (HF image_processing_beit.py): decode, resize (Pillow-exact), center crop,
//! rescale, normalize, channels first; segmentation maps reduced, resized with NEAREST and cropped
//! alike. A batch is processed in parallel and lands in one contiguous `[B, 3, H, W]` buffer.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::error::{BeitError, Result};
use crate::image::crop::center_crop;
use crate::image::decode::{decode_label_map, decode_rgb, ImageSource, Pixels};
use crate::image::pixel_plan::Plan;
use crate::image::processor_config::ImageProcessorConfig;
use crate::image::resample::Resample;
use crate::image::resize::{resize, working_pixels};
use crate::limits::DEFAULT_MAX_PIXELS;

/// The processor's output: HF's `pixel_values` and `labels`, plus each image's size before
/// processing (for post-processing back to it).
#[derive(Debug)]
pub struct ProcessedBatch {
    /// f32 `[B, 3, H, W]`.
    pub pixel_values: Tensor,
    /// i64 `[B, H, W]` when segmentation maps were given.
    pub labels: Option<Tensor>,
    /// (height, width) of each image as decoded.
    pub original_sizes: Vec<(usize, usize)>,
}

#[derive(Debug, Clone)]
pub struct BeitImageProcessor {
    pub config: ImageProcessorConfig,
    /// Images with more pixels are refused before decoding.
    pub max_pixels: u64,
}

/// Processed images with the (height, width) each had when decoded.
type Prepared = (Vec<Pixels>, Vec<(usize, usize)>);

/// Decoded images with their processing plans, and the (height, width) each had when decoded.
type Planned = (Vec<(Pixels, Plan)>, Vec<(usize, usize)>);

/// HF's `reduce_label`: background 0 becomes 255 (ignored), every other class shifts down by one.
fn reduce_labels(map: &mut Pixels) {
    for v in map.data.iter_mut() {
        *v = match *v {
            0 | 255 => 255,
            k => k - 1,
        };
    }
}

/// Image `i` of a batch comes out `(h, w)`, unlike image 0's `first`.
fn sizes_differ(source: &ImageSource, i: usize, (h, w): (usize, usize), first: (usize, usize)) -> BeitError {
    BeitError::Image(format!(
        "{} comes out {h}x{w} but image 0 {}x{}: a batch needs one size (enable do_resize \
         with a fixed size, or do_center_crop)",
        source.describe(i),
        first.0,
        first.1
    ))
}

impl BeitImageProcessor {
    pub fn new(config: ImageProcessorConfig) -> Self {
        Self {
            config,
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }

    /// Resize and crop as configured, on u8 pixels.
    fn geometry(&self, img: Pixels, filter: Resample) -> Result<Pixels> {
        let cfg = &self.config;
        let mut img = img;
        if cfg.do_resize {
            let (h, w) = cfg.resize_size((img.height, img.width));
            self.check_resize(&img, (w, h), filter)?;
            let data = resize(&img.data, (img.width, img.height, img.channels), (w, h), filter);
            img = Pixels {
                width: w,
                height: h,
                channels: img.channels,
                data,
            };
        }
        if cfg.do_center_crop {
            let (h, w) = cfg.crop_size.resolve((img.height, img.width));
            img = center_crop(&img, h, w);
        }
        Ok(img)
    }

    /// Refuses a resize whose working memory would exceed what `max_pixels` allows an image.
    fn check_resize(&self, img: &Pixels, (w, h): (usize, usize), filter: Resample) -> Result<()> {
        if w == 0 || h == 0 {
            return Err(BeitError::Image(format!(
                "the {}x{} image resizes to {h}x{w} with this processor's size and ensure_multiple_of:                  give a larger image",
                img.height, img.width
            )));
        }
        let needed = working_pixels((img.width, img.height), (w, h), filter);
        if needed > self.max_pixels {
            return Err(BeitError::Image(format!(
                "resizing the {}x{} image to {h}x{w} would hold {needed} pixels at once, over the limit \
                 of {} (maxPixels): the image's aspect ratio is too extreme for this processor's size",
                img.height, img.width, self.max_pixels
            )));
        }
        Ok(())
    }

    /// Decodes and resizes every image in parallel; an error names the image.
    fn prepare(
        &self,
        sources: &[ImageSource],
        decode: fn(&ImageSource, u64) -> Result<Pixels>,
        transform: impl Fn(Pixels) -> Result<Pixels> + Sync,
    ) -> Result<Prepared> {
        if sources.is_empty() {
            return Err(BeitError::Image("no images were given".into()));
        }
        let done: Vec<(Pixels, (usize, usize))> = sources
            .par_iter()
            .enumerate()
            .map(|(i, src)| {
                let decoded = || -> Result<(Pixels, (usize, usize))> {
                    let img = decode(src, self.max_pixels)?;
                    let size = (img.height, img.width);
                    Ok((transform(img)?, size))
                };
                decoded().map_err(|e| BeitError::Image(format!("{}: {e}", src.describe(i))))
            })
            .collect::<Result<_>>()?;
        let sizes = done.iter().map(|(_, s)| *s).collect();
        let images: Vec<Pixels> = done.into_iter().map(|(p, _)| p).collect();
        let first = (images[0].height, images[0].width);
        if let Some(i) = images.iter().position(|p| (p.height, p.width) != first) {
            return Err(sizes_differ(
                &sources[i],
                i,
                (images[i].height, images[i].width),
                first,
            ));
        }
        Ok((images, sizes))
    }

    /// Rescale, normalize and move channels first, each image into its slot of one buffer.
    fn normalize(&self, images: &[Pixels]) -> Result<Tensor> {
        let cfg = &self.config;
        let (mean, std) = (cfg.mean()?, cfg.std()?);
        let (h, w) = (images[0].height, images[0].width);
        let plane = h * w;
        let mut out = vec![0f32; images.len() * 3 * plane];
        out.par_chunks_mut(3 * plane).zip(images).for_each(|(dst, img)| {
            for (i, px) in img.data.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    // HF rescales in f64 and casts to f32, then normalizes in f32.
                    let mut v = px[c] as f32;
                    if cfg.do_rescale {
                        v = (px[c] as f64 * cfg.rescale_factor) as f32;
                    }
                    if cfg.do_normalize {
                        v = (v - mean[c]) / std[c];
                    }
                    dst[c * plane + i] = v;
                }
            }
        });
        Ok(Tensor::from_vec(out, (images.len(), 3, h, w), &Device::Cpu)?)
    }

    fn labels(&self, maps: &[ImageSource], expect: (usize, usize, usize)) -> Result<Tensor> {
        if maps.len() != expect.0 {
            return Err(BeitError::Image(format!(
                "{} segmentation maps for {} images: give one map per image",
                maps.len(),
                expect.0
            )));
        }
        let maps = self.process_label_maps(maps)?;
        if (maps[0].height, maps[0].width) != (expect.1, expect.2) {
            return Err(BeitError::Image(format!(
                "the segmentation maps come out {}x{}, the images {}x{}: give maps of the images' size",
                maps[0].height, maps[0].width, expect.1, expect.2
            )));
        }
        let ids: Vec<i64> = maps
            .iter()
            .flat_map(|m| m.data.iter().map(|&v| v as i64))
            .collect();
        Ok(Tensor::from_vec(
            ids,
            (maps.len(), expect.1, expect.2),
            &Device::Cpu,
        )?)
    }

    /// Segmentation maps as class ids: reduced if configured, resized (NEAREST) and cropped like
    /// the images. HF resizes maps with the image filter, inventing classes at borders; we do not.
    pub fn process_label_maps(&self, maps: &[ImageSource]) -> Result<Vec<Pixels>> {
        let reduce = self.config.do_reduce_labels;
        let (maps, _) = self.prepare(maps, decode_label_map, |mut m| {
            if reduce {
                reduce_labels(&mut m);
            }
            self.geometry(m, Resample::Nearest)
        })?;
        Ok(maps)
    }

    /// `preprocess` with the pixels computed where a model on `device` needs them: on CUDA
    /// (unless `BEIT_CUDA_KERNELS=0`) images are decoded here and resized, cropped and normalized
    /// on the GPU, with the same bits as on the CPU (see `pixel_plan`); every other device
    /// takes the CPU path and gets the result copied over.
    pub fn preprocess_on(
        &self,
        device: &Device,
        images: &[ImageSource],
        maps: Option<&[ImageSource]>,
    ) -> Result<ProcessedBatch> {
        let gpu = device.is_cuda() && crate::cuda_settings::enabled();
        if !gpu {
            let mut batch = self.preprocess(images, maps)?;
            batch.pixel_values = batch.pixel_values.to_device(device)?;
            return Ok(batch);
        }
        let (decoded, original_sizes) = self.prepare_decoded(images)?;
        let mut pixels = Vec::with_capacity(decoded.len());
        for (img, plan) in &decoded {
            let bytes = Tensor::from_slice(&img.data, (img.height, img.width, 3), device)?;
            pixels.push(plan.apply(&bytes)?);
        }
        let (h, w) = decoded[0].1.output_size();
        let labels = match maps {
            Some(maps) => Some(self.labels(maps, (pixels.len(), h, w))?),
            None => None,
        };
        Ok(ProcessedBatch {
            pixel_values: Tensor::stack(&pixels, 0)?,
            labels,
            original_sizes,
        })
    }

    /// Decodes every image and plans its processing (resize limits checked), for `preprocess_on`.
    fn prepare_decoded(&self, sources: &[ImageSource]) -> Result<Planned> {
        if sources.is_empty() {
            return Err(BeitError::Image("no images were given".into()));
        }
        let planned: Vec<(Pixels, Plan)> = sources
            .par_iter()
            .enumerate()
            .map(|(i, src)| {
                let planned = || -> Result<(Pixels, Plan)> {
                    let img = decode_rgb(src, self.max_pixels)?;
                    let plan = Plan::new(&self.config, (img.height, img.width))?;
                    if let Some(size) = plan.resize {
                        self.check_resize(&img, size, plan.filter)?;
                    }
                    Ok((img, plan))
                };
                planned().map_err(|e| BeitError::Image(format!("{}: {e}", src.describe(i))))
            })
            .collect::<Result<_>>()?;
        let first = planned[0].1.output_size();
        if let Some(i) = planned.iter().position(|(_, p)| p.output_size() != first) {
            return Err(sizes_differ(&sources[i], i, planned[i].1.output_size(), first));
        }
        let sizes = planned.iter().map(|(img, _)| (img.height, img.width)).collect();
        Ok((planned, sizes))
    }

    /// HF's `preprocess(images, segmentation_maps)`.
    pub fn preprocess(&self, images: &[ImageSource], maps: Option<&[ImageSource]>) -> Result<ProcessedBatch> {
        let filter = self.config.filter();
        let (pixels, original_sizes) = self.prepare(images, decode_rgb, |img| self.geometry(img, filter))?;
        let pixel_values = self.normalize(&pixels)?;
        let labels = match maps {
            Some(maps) => Some(self.labels(maps, (pixels.len(), pixels[0].height, pixels[0].width))?),
            None => None,
        };
        Ok(ProcessedBatch {
            pixel_values,
            labels,
            original_sizes,
        })
    }
}
