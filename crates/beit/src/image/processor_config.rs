//! `preprocessor_config.json` of a BEiT checkpoint: every field of HF's `BeitImageProcessor` with
//! its default, `size`/`crop_size` as an int, `{height, width}` or `{shortest_edge}`, and the
//! legacy `reduce_labels` key; and DPTImageProcessor's (`Intel/dpt-beit-*`): its own defaults,
//! `keep_aspect_ratio` and `ensure_multiple_of`. Unknown keys are kept so the file round-trips.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config_file::read_config;
use crate::error::{BeitError, Result};
use crate::image::dpt_resize::dpt_output_size;
use crate::image::resample::Resample;
use crate::limits::MAX_PROCESSOR_SIDE;

/// A target size as HF's `get_size_dict` accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SizeSpec {
    Dims { height: usize, width: usize },
    ShortestEdge { shortest_edge: usize },
    Square(usize),
}

impl SizeSpec {
    /// The output (height, width) for an input of (height, width), as HF resizes.
    pub fn resolve(self, (h, w): (usize, usize)) -> (usize, usize) {
        match self {
            SizeSpec::Dims { height, width } => (height, width),
            SizeSpec::Square(s) => (s, s),
            SizeSpec::ShortestEdge { shortest_edge: s } => {
                // HF's get_resize_output_image_size: the long side is int(s * long / short).
                let (short, long) = if h <= w { (h, w) } else { (w, h) };
                let new_long = (s as f64 * long as f64 / short as f64) as usize;
                if h <= w {
                    (s, new_long)
                } else {
                    (new_long, s)
                }
            }
        }
    }

    fn check(self, field: &str) -> Result<()> {
        let zero = match self {
            SizeSpec::Dims { height, width } => height == 0 || width == 0,
            SizeSpec::ShortestEdge { shortest_edge: s } | SizeSpec::Square(s) => s == 0,
        };
        if zero {
            return Err(BeitError::Config(format!(
                "{field} must be positive, got {self:?}"
            )));
        }
        let largest = match self {
            SizeSpec::Dims { height, width } => height.max(width),
            SizeSpec::ShortestEdge { shortest_edge: s } | SizeSpec::Square(s) => s,
        };
        if largest > MAX_PROCESSOR_SIDE {
            return Err(BeitError::Config(format!(
                "{field} is {self:?}, over the limit of {MAX_PROCESSOR_SIDE} pixels a side: BEiT models \
                 take inputs of a few hundred pixels"
            )));
        }
        Ok(())
    }
}

/// A number or one number per channel (`image_mean`, `image_std`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerChannel {
    One(f64),
    Each(Vec<f64>),
}

impl PerChannel {
    fn values(&self, field: &str) -> Result<[f32; 3]> {
        match self {
            PerChannel::One(v) => Ok([*v as f32; 3]),
            PerChannel::Each(v) if v.len() == 3 => Ok([v[0] as f32, v[1] as f32, v[2] as f32]),
            PerChannel::Each(v) => Err(BeitError::Config(format!(
                "{field} has {} values; give one number or one per RGB channel",
                v.len()
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageProcessorConfig {
    pub do_resize: bool,
    pub size: SizeSpec,
    pub resample: i64,
    pub do_center_crop: bool,
    pub crop_size: SizeSpec,
    pub do_rescale: bool,
    pub rescale_factor: f64,
    pub do_normalize: bool,
    pub image_mean: PerChannel,
    pub image_std: PerChannel,
    pub do_reduce_labels: bool,
    /// DPT: resize both sides by one scale, the one nearer 1.
    pub keep_aspect_ratio: bool,
    /// DPT: round each resized side to a multiple of this.
    pub ensure_multiple_of: usize,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Default for ImageProcessorConfig {
    fn default() -> Self {
        Self {
            do_resize: true,
            size: SizeSpec::Dims {
                height: 256,
                width: 256,
            },
            resample: Resample::Bicubic as i64,
            do_center_crop: true,
            crop_size: SizeSpec::Dims {
                height: 224,
                width: 224,
            },
            do_rescale: true,
            rescale_factor: 1.0 / 255.0,
            do_normalize: true,
            image_mean: PerChannel::Each(vec![0.5; 3]),
            image_std: PerChannel::Each(vec![0.5; 3]),
            do_reduce_labels: false,
            keep_aspect_ratio: false,
            ensure_multiple_of: 1,
            extra: serde_json::Map::new(),
        }
    }
}

/// Whether the config is DPTImageProcessor's (any of its backends).
fn is_dpt_processor(fields: &serde_json::Map<String, serde_json::Value>) -> bool {
    let kind = fields
        .get("image_processor_type")
        .and_then(serde_json::Value::as_str);
    kind.is_some_and(|k| k.starts_with("DPTImageProcessor"))
}

/// Where DPTImageProcessor's defaults differ from BeitImageProcessor's.
fn dpt_defaults() -> [(String, serde_json::Value); 2] {
    [
        ("size".into(), serde_json::json!({"height": 384, "width": 384})),
        ("do_center_crop".into(), false.into()),
    ]
}

/// The file a checkpoint keeps its image processor config in.
pub const PREPROCESSOR_FILE: &str = "preprocessor_config.json";

impl ImageProcessorConfig {
    /// Reads `preprocessor_config.json` from a checkpoint directory (or the file itself).
    pub fn from_pretrained(path: impl AsRef<Path>) -> Result<Self> {
        let hint = "pass the directory of a HuggingFace checkpoint, or build the processor from options";
        read_config(path.as_ref(), PREPROCESSOR_FILE, hint, Self::from_json_str)
    }

    /// Parses the JSON, fills HF's defaults (DPTImageProcessor's where the file names it), folds
    /// the legacy `reduce_labels` key, validates.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let mut json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| BeitError::Config(format!("not a valid image processor config: {e}")))?;
        if let Some(fields) = json.as_object_mut().filter(|f| is_dpt_processor(f)) {
            for (key, value) in dpt_defaults() {
                fields.entry(key).or_insert(value);
            }
        }
        let mut cfg: Self = serde_path_to_error::deserialize(json).map_err(|e| {
            BeitError::Config(format!(
                "not a valid image processor config (field {}): {}",
                e.path(),
                e.inner()
            ))
        })?;
        if let Some(legacy) = cfg.extra.remove("reduce_labels") {
            cfg.do_reduce_labels = legacy.as_bool().unwrap_or(cfg.do_reduce_labels);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// The (height, width) an image of (height, width) is resized to.
    pub fn resize_size(&self, input: (usize, usize)) -> (usize, usize) {
        match self.size {
            SizeSpec::Dims { height, width } if self.keep_aspect_ratio || self.ensure_multiple_of > 1 => {
                dpt_output_size(
                    input,
                    (height, width),
                    self.keep_aspect_ratio,
                    self.ensure_multiple_of,
                )
            }
            SizeSpec::Square(s) if self.keep_aspect_ratio || self.ensure_multiple_of > 1 => {
                dpt_output_size(input, (s, s), self.keep_aspect_ratio, self.ensure_multiple_of)
            }
            size => size.resolve(input),
        }
    }

    fn validate(&self) -> Result<()> {
        self.size.check("size")?;
        if self.ensure_multiple_of == 0 || self.ensure_multiple_of > MAX_PROCESSOR_SIDE {
            return Err(BeitError::Config(format!(
                "ensure_multiple_of is {}; it must be from 1 to {MAX_PROCESSOR_SIDE}",
                self.ensure_multiple_of
            )));
        }
        let pads = self.extra.get("do_pad").and_then(serde_json::Value::as_bool) == Some(true);
        if pads && self.extra.get("size_divisor").is_some_and(|d| !d.is_null()) {
            return Err(BeitError::Config(
                "do_pad with a size_divisor (DPT's padding) is not supported: set do_pad to false".into(),
            ));
        }
        self.crop_size.check("crop_size")?;
        Resample::from_code(self.resample)?;
        self.mean()?;
        if self.std()?.contains(&0.0) {
            return Err(BeitError::Config(
                "image_std contains 0: normalizing would divide by zero".into(),
            ));
        }
        if !self.rescale_factor.is_finite() {
            return Err(BeitError::Config("rescale_factor must be a finite number".into()));
        }
        Ok(())
    }

    pub fn filter(&self) -> Resample {
        Resample::from_code(self.resample).unwrap_or(Resample::Bicubic)
    }

    pub fn mean(&self) -> Result<[f32; 3]> {
        self.image_mean.values("image_mean")
    }

    pub fn std(&self) -> Result<[f32; 3]> {
        self.image_std.values("image_std")
    }
}
