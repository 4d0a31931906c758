//! `DPTConfig` (configuration_dpt.py) for DPT on a BEiT backbone (`Intel/dpt-beit-*`): the neck
//! and head fields, with HF's defaults; the backbone's own fields are the `BeitConfig` that holds
//! this one (`BeitConfig::dpt`). DPT on ViT (`Intel/dpt-large`) and DPT-hybrid are other
//! architectures and are refused by name.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::activation::Activation;
use crate::error::{BeitError, Result};
use crate::limits;

/// DPT's model type.
pub const DPT: &str = "dpt";

const READOUT_TYPES: [&str; 3] = ["ignore", "add", "project"];

/// The most feature maps a DPT neck takes (HF's checkpoints use 4).
const MAX_NECK_STAGES: usize = 16;

/// The largest up- or downsampling factor of a reassemble layer (HF's checkpoints use 4).
const MAX_REASSEMBLE_FACTOR: f64 = 64.0;

/// HF's depth head hard-codes its optional projection to 256 channels.
const PROJECTION_CHANNELS: usize = 256;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DptConfig {
    pub readout_type: String,
    pub reassemble_factors: Vec<f64>,
    pub neck_hidden_sizes: Vec<usize>,
    pub fusion_hidden_size: usize,
    pub head_in_index: i64,
    pub use_batch_norm_in_fusion_residual: Option<bool>,
    pub use_bias_in_fusion_residual: Option<bool>,
    pub add_projection: bool,
    /// The readout projection's activation.
    pub hidden_act: String,
    pub is_hybrid: bool,
    /// Everything else in config.json (the ViT fields DPT ignores with a backbone, the version),
    /// kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for DptConfig {
    fn default() -> Self {
        Self {
            readout_type: "project".into(),
            reassemble_factors: vec![4.0, 2.0, 1.0, 0.5],
            neck_hidden_sizes: vec![96, 192, 384, 768],
            fusion_hidden_size: 256,
            head_in_index: -1,
            use_batch_norm_in_fusion_residual: Some(false),
            use_bias_in_fusion_residual: None,
            add_projection: false,
            hidden_act: "gelu".into(),
            is_hybrid: false,
            extra: Map::new(),
        }
    }
}

/// Whether a parsed config.json is a DPT one.
pub fn is_dpt(json: &Value) -> bool {
    json.get("model_type").and_then(Value::as_str) == Some(DPT)
}

/// What a DPT head needs to know of the backbone config that holds it.
pub struct DptBackbone {
    /// How many feature maps the backbone hands out (its `out_indices`).
    pub features: usize,
    /// Whether it hands them out as token sequences (no reshape to maps, no FPN).
    pub token_sequences: bool,
}

fn bad<T>(msg: String) -> Result<T> {
    Err(BeitError::Config(msg))
}

impl DptConfig {
    /// Splits a DPT config.json into DPT's fields and its `backbone_config`, refusing the DPT
    /// variants without a BEiT backbone.
    pub fn split(mut json: Value) -> Result<(Self, Value)> {
        let object = json
            .as_object_mut()
            .ok_or_else(|| BeitError::Config("a DPT config must be a JSON object".into()))?;
        if object.get("is_hybrid").and_then(Value::as_bool) == Some(true) {
            return bad(
                "DPT-hybrid (a BiT backbone, Intel/dpt-hybrid-midas) is not supported: beit-node runs \
                 DPT on a BEiT backbone (Intel/dpt-beit-base-384, Intel/dpt-beit-large-512)"
                    .into(),
            );
        }
        let backbone = match object.remove("backbone_config") {
            Some(b) if b.is_object() => b,
            _ => {
                return bad(
                    "this DPT config has no backbone_config, so its backbone is DPT's own ViT \
                     (Intel/dpt-large): not supported; beit-node runs DPT on a BEiT backbone \
                     (Intel/dpt-beit-base-384, Intel/dpt-beit-large-512)"
                        .into(),
                )
            }
        };
        match backbone.get("model_type").and_then(Value::as_str) {
            Some("beit") => {}
            other => {
                return bad(format!(
                    "DPT's backbone_config has model type {other:?}; beit-node runs DPT on a \"beit\" \
                     backbone only (Intel/dpt-beit-*)"
                ))
            }
        }
        let dpt: Self = serde_path_to_error::deserialize(json).map_err(|e| {
            BeitError::Config(format!(
                "config is not valid DPT config JSON (field {}): {}",
                e.path(),
                e.inner()
            ))
        })?;
        Ok((dpt, backbone))
    }

    /// The config.json HF writes: DPT's fields with the backbone's under `backbone_config`.
    pub fn to_json(&self, backbone: Value) -> Value {
        let mut json = serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()));
        if let Some(object) = json.as_object_mut() {
            object.insert("model_type".into(), DPT.into());
            object.insert("backbone_config".into(), backbone);
        }
        json
    }

    /// Whether the fusion blocks' residual units have BatchNorms.
    pub fn batch_norm(&self) -> bool {
        self.use_batch_norm_in_fusion_residual.unwrap_or(false)
    }

    /// Whether the residual units' convolutions have biases (HF: unset means "no BatchNorm").
    pub fn fusion_bias(&self) -> bool {
        self.use_bias_in_fusion_residual.unwrap_or(!self.batch_norm())
    }

    /// The fused map the head reads (HF's `hidden_states[head_in_index]`).
    pub fn head_index(&self) -> usize {
        let n = self.neck_hidden_sizes.len() as i64;
        self.head_in_index.rem_euclid(n) as usize
    }

    /// Rejects what HF cannot build or run on `backbone`, naming the field.
    pub fn check(&self, backbone: &DptBackbone) -> Result<()> {
        let n = self.neck_hidden_sizes.len();
        limits::check_at_most("neck_hidden_sizes (count)", n, MAX_NECK_STAGES)?;
        limits::check_at_most(
            "fusion_hidden_size",
            self.fusion_hidden_size,
            limits::MAX_HIDDEN_SIZE,
        )?;
        for &size in &self.neck_hidden_sizes {
            limits::check_at_most("neck_hidden_sizes", size, limits::MAX_HIDDEN_SIZE)?;
        }
        if n == 0 || self.neck_hidden_sizes.contains(&0) || self.fusion_hidden_size < 2 {
            return bad(format!(
                "neck_hidden_sizes {:?} and fusion_hidden_size {} must be positive (fusion at least 2)",
                self.neck_hidden_sizes, self.fusion_hidden_size
            ));
        }
        let features = backbone.features;
        if self.reassemble_factors.len() != n || features != n {
            return bad(format!(
                "DPT needs one backbone feature and one reassemble factor per neck stage: \
                 neck_hidden_sizes has {n}, reassemble_factors {}, backbone out_indices {features}",
                self.reassemble_factors.len()
            ));
        }
        for &f in &self.reassemble_factors {
            reassemble_step(f)?;
        }
        if !READOUT_TYPES.contains(&self.readout_type.as_str()) {
            return bad(format!(
                "readout_type is {:?}; expected one of {READOUT_TYPES:?}",
                self.readout_type
            ));
        }
        if self.head_in_index >= n as i64 || self.head_in_index < -(n as i64) {
            return bad(format!(
                "head_in_index {} is outside the {n} fused maps",
                self.head_in_index
            ));
        }
        if self.add_projection && self.fusion_hidden_size != PROJECTION_CHANNELS {
            return bad(format!(
                "add_projection needs fusion_hidden_size {PROJECTION_CHANNELS} (HF's projection is \
                 256 channels wide), got {}",
                self.fusion_hidden_size
            ));
        }
        if !backbone.token_sequences {
            return bad(
                "DPT reads the BEiT backbone's features as token sequences: set backbone_config's \
                 reshape_hidden_states and add_fpn to false (as Intel/dpt-beit-* do)"
                    .into(),
            );
        }
        Activation::parse(&self.hidden_act)?;
        Ok(())
    }
}

/// How a reassemble layer resizes: up by an integer factor, not at all, or down by an integer
/// stride (HF: `ConvTranspose2d(k=f, s=f)`, identity, `Conv2d(3, stride=int(1/f), padding=1)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReassembleStep {
    Up(usize),
    Keep,
    Down(usize),
}

pub fn reassemble_step(factor: f64) -> Result<ReassembleStep> {
    let whole = |x: f64| x.fract() == 0.0;
    if factor.is_finite() && factor > 1.0 && factor <= MAX_REASSEMBLE_FACTOR && whole(factor) {
        Ok(ReassembleStep::Up(factor as usize))
    } else if factor == 1.0 {
        Ok(ReassembleStep::Keep)
    } else if factor > 0.0 && factor < 1.0 && (1.0 / factor) <= MAX_REASSEMBLE_FACTOR {
        // HF strides by int(1 / f): 0.5 -> 2, 0.3 -> 3.
        Ok(ReassembleStep::Down((1.0 / factor) as usize))
    } else {
        bad(format!(
            "reassemble_factors contains {factor}: each must be a whole number from 2 to \
             {MAX_REASSEMBLE_FACTOR}, 1, or a fraction such as 0.5"
        ))
    }
}
