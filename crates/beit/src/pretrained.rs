//! What every BEiT model class shares: build from a config and weights, report its config, run
//! `forward`. `from_pretrained` and `from_config` are written once here for all of them.

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::config::BeitConfig;
use crate::error::{BeitError, Result};
use crate::output::{ForwardInputs, ModelOutput};
use crate::random_init::random_weights;
use crate::weights::load_weights;

/// Where a model lives and in which precision it computes.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub device: Device,
    pub dtype: DType,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            dtype: DType::F32,
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

    fn config(&self) -> &BeitConfig;

    fn forward(&self, inputs: &ForwardInputs) -> Result<ModelOutput>;

    /// Loads `config.json` and the weights from a checkpoint directory.
    fn from_pretrained(dir: impl AsRef<Path>, options: &LoadOptions) -> Result<Self>
    where
        Self: Sized,
    {
        let dir = dir.as_ref();
        let cfg = BeitConfig::from_pretrained(dir)?;
        Self::check_config(&cfg)?;
        let vb = load_weights(dir, options.dtype, &options.device)?;
        Self::load(&cfg, vb).map_err(|e| match e {
            BeitError::Candle(e) => BeitError::Weights(format!(
                "the weights in {} do not fit this model: {e}",
                dir.display()
            )),
            other => other,
        })
    }

    /// A model with random weights, initialised as HF initialises a new model.
    fn from_config(cfg: &BeitConfig, options: &LoadOptions) -> Result<Self>
    where
        Self: Sized,
    {
        cfg.validate()?;
        Self::check_config(cfg)?;
        Self::load(cfg, random_weights(cfg, options.dtype, &options.device))
    }
}
