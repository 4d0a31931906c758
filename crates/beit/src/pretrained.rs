//! What every BEiT model class shares: build from a config and weights, report its config, run
//! `forward`. `from_pretrained` and `from_config` are written once here for all of them.

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::config::BeitConfig;
use crate::error::{BeitError, Result};
use crate::model::encoder::BeitEncoder;
use crate::model::trunk::Trunk;
use crate::output::{ForwardInputs, ModelOutput};
use crate::precision::Quantization;
use crate::random_init::random_weights;
use crate::weights::{load_weights, Weights};

/// Where a model lives and in which precision it computes.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub device: Device,
    pub dtype: DType,
    /// Reduced precision for the encoder's linear layers (CPU, f32 only).
    pub quantization: Option<Quantization>,
}

impl LoadOptions {
    /// The options a model is built with: on the CPU, bfloat16 is f32 with the encoder's linear
    /// layers in bf16 (`Quantization::Bfloat16`), since candle's CPU bf16 ops convert every
    /// element on each op and would run LayerNorm and softmax in bf16 too, against what PyTorch's
    /// autocast (the reference for bf16 here) does.
    pub fn resolved(&self) -> Self {
        match (&self.device, self.dtype, self.quantization) {
            (Device::Cpu, DType::BF16, None) => Self {
                dtype: DType::F32,
                quantization: Some(Quantization::Bfloat16),
                ..self.clone()
            },
            _ => self.clone(),
        }
    }
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            dtype: DType::F32,
            quantization: None,
        }
    }
}

/// A BEiT model class (HF's `BeitPreTrainedModel` subclasses).
pub trait BeitPreTrainedModel: Send + Sync {
    /// Builds the model from tensors named as on the hub.
    fn load(cfg: &BeitConfig, vb: VarBuilder) -> Result<Self>
    where
        Self: Sized;

    /// Rejects configs this class cannot be built from, before any weight is read.
    fn check_config(_cfg: &BeitConfig) -> Result<()>
    where
        Self: Sized,
    {
        Ok(())
    }

    /// The embeddings and encoder the class runs before its own part (see `Trunk`).
    fn trunk(&self) -> &Trunk;

    fn trunk_mut(&mut self) -> &mut Trunk;

    fn config(&self) -> &BeitConfig {
        self.trunk().config()
    }

    /// The device the model runs on.
    fn device(&self) -> &Device {
        self.trunk().device()
    }

    /// The transformer layers, whose linear weights are read after `load` (see `Dense`).
    fn encoder_mut(&mut self) -> &mut BeitEncoder {
        self.trunk_mut().encoder_mut()
    }

    fn encoder(&self) -> &BeitEncoder {
        self.trunk().encoder()
    }

    /// Packs (or quantizes) the encoder weights that the load left in the mapped checkpoint, if
    /// any are left: the work the second forward pass would otherwise start with (see
    /// `DeferredWeight`). The request queue calls it when it falls idle.
    fn finish_loading(&self) -> Result<()> {
        Ok(self.encoder().finish_loading()?)
    }

    fn forward(&self, inputs: &ForwardInputs) -> Result<ModelOutput>;

    /// Loads `config.json` and the weights from a checkpoint directory.
    fn from_pretrained(dir: impl AsRef<Path>, options: &LoadOptions) -> Result<Self>
    where
        Self: Sized,
    {
        let dir = dir.as_ref();
        let options = &options.resolved();
        let cfg = BeitConfig::from_pretrained(dir)?;
        Self::check_config(&cfg)?;
        check_quantization(options)?;
        let weights = load_weights(dir, options.dtype, &options.device)?;
        let does_not_fit = |e| match e {
            BeitError::Candle(e) => BeitError::Weights(format!(
                "the weights in {} do not fit this model: {e}",
                dir.display()
            )),
            other => other,
        };
        let model = Self::load(&cfg, weights.vb.clone()).map_err(does_not_fit)?;
        let model = prepare(model, options, &weights).map_err(does_not_fit)?;
        weights.check_unchanged()?;
        Ok(model)
    }

    /// A model with random weights, initialised as HF initialises a new model.
    fn from_config(cfg: &BeitConfig, options: &LoadOptions) -> Result<Self>
    where
        Self: Sized,
    {
        let options = &options.resolved();
        cfg.validate()?;
        Self::check_config(cfg)?;
        check_quantization(options)?;
        let weights = Weights::from_vb(random_weights(cfg, options.dtype, &options.device));
        prepare(Self::load(cfg, weights.vb.clone())?, options, &weights)
    }
}

fn check_quantization(options: &LoadOptions) -> Result<()> {
    let cpu_f32 = options.device.is_cpu() && options.dtype == DType::F32;
    match options.quantization {
        Some(Quantization::Int8) if !cpu_f32 => Err(BeitError::InvalidArgument(format!(
            "q8 runs on the CPU from float32 weights, not on {:?} in {:?}: use device 'cpu'",
            options.device, options.dtype
        ))),
        Some(Quantization::Bfloat16) if !cpu_f32 => Err(BeitError::InvalidArgument(format!(
            "the CPU's bf16 linear layers take float32 weights on the CPU, not {:?} on {:?}: \
             ask for dtype 'bfloat16' and leave the quantization unset",
            options.dtype, options.device
        ))),
        _ => Ok(()),
    }
}

/// Reads the encoder's linear weights into the form the kernels take (see `Dense::prepare`), all of
/// them before the load returns: a loaded model reads nothing from its checkpoint file again, so
/// rewriting that file (`cp`, `save_pretrained` over the directory, a truncation) cannot change or
/// crash it (reading a truncated file's map is SIGBUS). What that costs, against packing the
/// weights on the second call: README.md.
fn prepare<M: BeitPreTrainedModel>(mut model: M, options: &LoadOptions, weights: &Weights) -> Result<M> {
    let encoder = model.encoder_mut();
    encoder.prepare(options.quantization, weights)?;
    encoder.finish_loading()?;
    Ok(model)
}
