//! `BeitConfig`: every field of HuggingFace's `configuration_beit.py` (and the `PretrainedConfig`
//! fields a BEiT checkpoint uses), with the same defaults, read from and written to `config.json`.
//! Fields this crate does not know are kept in `extra` so a config round-trips unchanged.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config_file::read_config;
use crate::dpt_config::{is_dpt, DptBackbone, DptConfig};
use crate::error::{BeitError, Result};
use crate::limits;

/// The configuration of a BEiT model, field for field as in HuggingFace `transformers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BeitConfig {
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    pub hidden_dropout_prob: f64,
    pub attention_probs_dropout_prob: f64,
    pub initializer_range: f64,
    pub layer_norm_eps: f64,
    pub image_size: usize,
    pub patch_size: usize,
    pub num_channels: usize,
    pub use_mask_token: bool,
    pub use_absolute_position_embeddings: bool,
    pub use_relative_position_bias: bool,
    pub use_shared_relative_position_bias: bool,
    pub layer_scale_init_value: f64,
    pub drop_path_rate: f64,
    pub use_mean_pooling: bool,
    pub pool_scales: Vec<usize>,
    pub use_auxiliary_head: bool,
    pub auxiliary_loss_weight: f64,
    pub auxiliary_channels: usize,
    pub auxiliary_num_convs: usize,
    pub auxiliary_concat_input: bool,
    pub semantic_loss_ignore_index: i64,
    pub out_features: Option<Vec<String>>,
    pub out_indices: Option<Vec<i64>>,
    pub add_fpn: bool,
    pub reshape_hidden_states: bool,
    pub stage_names: Vec<String>,
    pub id2label: Option<BTreeMap<String, String>>,
    pub label2id: Option<BTreeMap<String, i64>>,
    pub num_labels: Option<usize>,
    pub problem_type: Option<String>,
    pub architectures: Option<Vec<String>>,
    /// A DPT checkpoint's neck and head, when this is the BEiT backbone under it (config.json's
    /// `backbone_config`; model type `dpt`).
    #[serde(skip)]
    pub dpt: Option<Box<DptConfig>>,
    /// Everything else in config.json (`transformers_version`, `dtype`, ...), kept verbatim.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The model types of the BEiT architecture: BEiT itself (DiT checkpoints are `beit` too) and
/// Data2Vec-Vision, whose arithmetic is BEiT's under other class and weight names.
pub const MODEL_TYPES: [&str; 2] = ["beit", DATA2VEC_VISION];

/// Data2Vec-Vision's model type.
const DATA2VEC_VISION: &str = "data2vec-vision";

impl BeitConfig {
    /// Where a head model's checkpoint keeps the base model's tensors (HF's `base_model_prefix`):
    /// `beit.` or `data2vec_vision.`.
    pub fn base_model_prefix(&self) -> &'static str {
        if self.dpt.is_some() {
            "backbone"
        } else if self.model_type == DATA2VEC_VISION {
            "data2vec_vision"
        } else {
            "beit"
        }
    }
}

impl Default for BeitConfig {
    fn default() -> Self {
        Self {
            model_type: "beit".into(),
            vocab_size: 8192,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            hidden_dropout_prob: 0.0,
            attention_probs_dropout_prob: 0.0,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            image_size: 224,
            patch_size: 16,
            num_channels: 3,
            use_mask_token: false,
            use_absolute_position_embeddings: false,
            use_relative_position_bias: false,
            use_shared_relative_position_bias: false,
            layer_scale_init_value: 0.1,
            drop_path_rate: 0.1,
            use_mean_pooling: true,
            pool_scales: vec![1, 2, 3, 6],
            use_auxiliary_head: true,
            auxiliary_loss_weight: 0.4,
            auxiliary_channels: 256,
            auxiliary_num_convs: 1,
            auxiliary_concat_input: false,
            semantic_loss_ignore_index: 255,
            out_features: None,
            out_indices: None,
            add_fpn: false,
            reshape_hidden_states: true,
            stage_names: Vec::new(),
            id2label: None,
            label2id: None,
            num_labels: None,
            problem_type: None,
            architectures: None,
            dpt: None,
            extra: serde_json::Map::new(),
        }
    }
}

const PROBLEM_TYPES: [&str; 3] = [
    "regression",
    "single_label_classification",
    "multi_label_classification",
];

/// The file a checkpoint keeps its config in.
pub const CONFIG_FILE: &str = "config.json";

impl BeitConfig {
    /// Reads `config.json` from a model directory (or the file itself), fills HF's defaults and
    /// validates the result.
    pub fn from_pretrained(path: impl AsRef<Path>) -> Result<Self> {
        let hint = "pass the directory of a HuggingFace BEiT checkpoint (config.json plus \
                    model.safetensors or pytorch_model.bin)";
        read_config(path.as_ref(), CONFIG_FILE, hint, Self::from_json_str)
    }

    /// Parses a config from JSON text, fills HF's defaults and validates it. A DPT config gives
    /// its BEiT backbone's, with the DPT part in `dpt`.
    pub fn from_json_str(text: &str) -> Result<Self> {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(json) if is_dpt(&json) => Self::from_dpt_json(json),
            _ => Self::from_beit_json_str(text),
        }
    }

    fn from_dpt_json(json: serde_json::Value) -> Result<Self> {
        let (dpt, backbone) = DptConfig::split(json)?;
        let mut config = Self::from_beit_json_str(&backbone.to_string()).map_err(|e| match e {
            BeitError::Config(m) => BeitError::Config(format!("in DPT's backbone_config: {m}")),
            other => other,
        })?;
        dpt.check(&DptBackbone {
            features: config.out_indices.as_ref().map_or(0, Vec::len),
            token_sequences: !config.reshape_hidden_states && !config.add_fpn,
        })?;
        config.dpt = Some(Box::new(dpt));
        Ok(config)
    }

    fn from_beit_json_str(text: &str) -> Result<Self> {
        let mut json = serde_json::Deserializer::from_str(text);
        let mut config: BeitConfig = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let field = e.path().to_string();
            let at = if field == "." {
                String::new()
            } else {
                format!(" (field {field})")
            };
            BeitError::Config(format!("config is not valid BEiT config JSON{at}: {}", e.inner()))
        })?;
        // Bounds first: `complete` builds one stage name per layer and one label per class.
        config.check_limits()?;
        config.complete()?;
        config.check_values()?;
        Ok(config)
    }

    /// The config as HF-style JSON (snake_case keys), with every field written out.
    pub fn to_json_string(&self) -> String {
        let json = match &self.dpt {
            Some(dpt) => dpt.to_json(serde_json::to_value(self).unwrap_or_default()),
            None => serde_json::to_value(self).unwrap_or_default(),
        };
        serde_json::to_string_pretty(&json).unwrap_or_else(|_| "{}".into())
    }

    /// Fills the fields that HF derives from others: stage names, labels, backbone outputs.
    fn complete(&mut self) -> Result<()> {
        self.stage_names = std::iter::once("stem".to_string())
            .chain((1..=self.num_hidden_layers).map(|i| format!("stage{i}")))
            .collect();
        self.complete_labels()?;
        if self.model_type == DATA2VEC_VISION {
            // Data2VecVisionConfig is no backbone config: its out_indices only pick the hidden
            // states that the segmentation head reads (HF's default below), unchecked against the
            // layers, and it has no out_features.
            self.out_indices.get_or_insert_with(|| vec![3, 5, 7, 11]);
            return Ok(());
        }
        self.align_backbone_outputs()
    }

    fn complete_labels(&mut self) -> Result<()> {
        let id2label = match self.id2label.take() {
            Some(map) => map,
            None => (0..self.num_labels.unwrap_or(2))
                .map(|i| (i.to_string(), format!("LABEL_{i}")))
                .collect(),
        };
        for key in id2label.keys() {
            key.parse::<usize>()
                .map_err(|_| BeitError::Config(format!("id2label key {key:?} is not a class index")))?;
        }
        if let Some(n) = self.num_labels {
            if n != id2label.len() {
                return Err(BeitError::Config(format!(
                    "num_labels is {n} but id2label has {} entries: make them agree",
                    id2label.len()
                )));
            }
        }
        if self.label2id.is_none() {
            let label2id = id2label
                .iter()
                .filter_map(|(k, v)| k.parse::<i64>().ok().map(|k| (v.clone(), k)))
                .collect();
            self.label2id = Some(label2id);
        }
        self.num_labels = Some(id2label.len());
        self.id2label = Some(id2label);
        Ok(())
    }

    /// HF's `get_aligned_output_features_output_indices`: either list may be given, the other
    /// follows; with neither, the last stage is the output.
    fn align_backbone_outputs(&mut self) -> Result<()> {
        let stages = self.stage_names.len() as i64;
        let (features, indices) = match (self.out_features.take(), self.out_indices.take()) {
            (None, None) => (
                vec![self.stage_names[stages as usize - 1].clone()],
                vec![stages - 1],
            ),
            (Some(features), None) => {
                let indices = features
                    .iter()
                    .map(|f| self.stage_index(f))
                    .collect::<Result<Vec<_>>>()?;
                (features, indices)
            }
            (features, Some(indices)) => {
                for &i in &indices {
                    if i >= stages || i < -stages {
                        return Err(BeitError::Config(format!(
                            "out_indices contains {i}, but the model has only {stages} stages \
                             (stem and {} layers)",
                            self.num_hidden_layers
                        )));
                    }
                }
                let derived: Vec<String> = indices
                    .iter()
                    .map(|&i| self.stage_names[i.rem_euclid(stages) as usize].clone())
                    .collect();
                if let Some(given) = &features {
                    if *given != derived {
                        return Err(BeitError::Config(format!(
                            "out_features {given:?} and out_indices {indices:?} name different stages"
                        )));
                    }
                }
                (derived, indices)
            }
        };
        self.out_features = Some(features);
        self.out_indices = Some(indices);
        Ok(())
    }

    fn stage_index(&self, name: &str) -> Result<i64> {
        self.stage_names
            .iter()
            .position(|s| s == name)
            .map(|i| i as i64)
            .ok_or_else(|| {
                BeitError::Config(format!(
                    "out_features names {name:?}, which is not one of the stages {:?}",
                    self.stage_names
                ))
            })
    }

    /// Rejects sizes beyond `crate::limits`, before anything is allocated from them.
    fn check_limits(&self) -> Result<()> {
        for (field, value, limit) in [
            ("num_hidden_layers", self.num_hidden_layers, limits::MAX_LAYERS),
            ("hidden_size", self.hidden_size, limits::MAX_HIDDEN_SIZE),
            (
                "intermediate_size",
                self.intermediate_size,
                limits::MAX_INTERMEDIATE_SIZE,
            ),
            (
                "num_attention_heads",
                self.num_attention_heads,
                limits::MAX_ATTENTION_HEADS,
            ),
            ("image_size", self.image_size, limits::MAX_IMAGE_SIZE),
            ("patch_size", self.patch_size, limits::MAX_IMAGE_SIZE),
            ("num_channels", self.num_channels, limits::MAX_CHANNELS),
            ("vocab_size", self.vocab_size, limits::MAX_VOCAB_SIZE),
            ("num_labels", self.num_labels.unwrap_or(0), limits::MAX_LABELS),
            (
                "pool_scales (count)",
                self.pool_scales.len(),
                limits::MAX_POOL_SCALES,
            ),
            (
                "auxiliary_channels",
                self.auxiliary_channels,
                limits::MAX_AUXILIARY_CHANNELS,
            ),
            (
                "auxiliary_num_convs",
                self.auxiliary_num_convs,
                limits::MAX_AUXILIARY_CONVS,
            ),
        ] {
            limits::check_at_most(field, value, limit)?;
        }
        for &scale in &self.pool_scales {
            limits::check_at_most("pool_scales", scale, limits::MAX_POOL_SCALE)?;
            if scale == 0 {
                return Err(BeitError::Config(
                    "pool_scales contains 0; scales must be positive".into(),
                ));
            }
        }
        let tokens = (self.image_size / self.patch_size.max(1)).pow(2) as u64 + 1;
        if tokens > limits::max_tokens() {
            return Err(BeitError::Config(format!(
                "image_size {} at patch_size {} makes {tokens} tokens per image, over the limit of {} \
                 (raise it with setLimits({{ maxTokens }}) if you need inputs this large)",
                self.image_size,
                self.patch_size,
                limits::max_tokens()
            )));
        }
        Ok(())
    }

    /// Rejects values no BEiT model can be built from, naming the field.
    pub fn validate(&self) -> Result<()> {
        self.check_limits()?;
        self.check_values()
    }

    /// The rules `validate` applies besides the size limits.
    fn check_values(&self) -> Result<()> {
        let bad = |msg: String| Err(BeitError::Config(msg));
        if !MODEL_TYPES.contains(&self.model_type.as_str()) {
            return bad(format!(
                "model_type is {:?}, expected \"beit\" or \"data2vec-vision\" (or \"dpt\" on a BEiT \
                 backbone): this library runs BEiT-architecture checkpoints only",
                self.model_type
            ));
        }
        for (name, value) in [
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("image_size", self.image_size),
            ("patch_size", self.patch_size),
            ("num_channels", self.num_channels),
            ("vocab_size", self.vocab_size),
        ] {
            if value == 0 {
                return bad(format!("{name} is 0; it must be a positive integer"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "hidden_size ({}) is not divisible by num_attention_heads ({})",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.patch_size > self.image_size {
            return bad(format!(
                "patch_size ({}) is larger than image_size ({})",
                self.patch_size, self.image_size
            ));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return bad(format!(
                "layer_norm_eps is {}; it must be a small positive number such as 1e-12",
                self.layer_norm_eps
            ));
        }
        if !self.layer_scale_init_value.is_finite() {
            return bad("layer_scale_init_value must be a finite number".into());
        }
        if let Some(p) = &self.problem_type {
            if !PROBLEM_TYPES.contains(&p.as_str()) {
                return bad(format!(
                    "problem_type is {p:?}; expected one of {PROBLEM_TYPES:?} or null"
                ));
            }
        }
        crate::activation::Activation::parse(&self.hidden_act)?;
        Ok(())
    }

    /// The number of classes of the classification head.
    pub fn num_labels(&self) -> usize {
        self.num_labels.unwrap_or(2)
    }

    /// The label of class `index`, or `LABEL_{index}` when the config has none.
    pub fn label(&self, index: usize) -> String {
        self.id2label
            .as_ref()
            .and_then(|m| m.get(&index.to_string()).cloned())
            .unwrap_or_else(|| format!("LABEL_{index}"))
    }

    /// The patch grid of the image size the model was trained at: (height, width) in patches.
    pub fn patch_grid(&self) -> (usize, usize) {
        let n = self.image_size / self.patch_size;
        (n, n)
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}
