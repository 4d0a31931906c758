//! `BeitModel` (modeling_beit.py): embeddings, encoder, final LayerNorm (only without mean
//! pooling) and the optional pooler.

use candle_core::{Device, Module, Tensor};
use candle_nn::VarBuilder;

use crate::config::BeitConfig;
use crate::error::Result;
use crate::model::embeddings::BeitEmbeddings;
use crate::model::encoder::BeitEncoder;
use crate::model::pixel_values::{check_sequence, prepare_pixel_values};
use crate::model::pooler::BeitPooler;
use crate::ops::LayerNorm;
use crate::output::{ForwardInputs, ModelOutput};
use crate::pretrained::BeitPreTrainedModel;

/// HF's `BeitModelOutputWithPooling`: the sequence output is always there, the rest on request.
#[derive(Debug)]
pub struct BaseModelOutput {
    pub last_hidden_state: Tensor,
    pub pooler_output: Option<Tensor>,
    pub hidden_states: Option<Vec<Tensor>>,
    pub attentions: Option<Vec<Tensor>>,
}

impl From<BaseModelOutput> for ModelOutput {
    fn from(base: BaseModelOutput) -> Self {
        ModelOutput {
            last_hidden_state: Some(base.last_hidden_state),
            pooler_output: base.pooler_output,
            hidden_states: base.hidden_states,
            attentions: base.attentions,
            ..Default::default()
        }
    }
}

#[derive(Debug)]
pub struct BeitModel {
    config: BeitConfig,
    embeddings: BeitEmbeddings,
    encoder: BeitEncoder,
    layernorm: Option<LayerNorm>,
    pooler: Option<BeitPooler>,
    device: Device,
}

impl BeitModel {
    /// Builds the model from tensors named as in a saved `BeitModel` (no `beit.` prefix).
    pub fn new(cfg: &BeitConfig, vb: VarBuilder, add_pooling_layer: bool) -> Result<Self> {
        let layernorm = if cfg.use_mean_pooling {
            None
        } else {
            Some(LayerNorm::new(
                cfg.hidden_size,
                cfg.layer_norm_eps,
                vb.pp("layernorm"),
            )?)
        };
        let pooler = if add_pooling_layer {
            Some(BeitPooler::new(cfg, vb.pp("pooler"))?)
        } else {
            None
        };
        Ok(Self {
            config: cfg.clone(),
            embeddings: BeitEmbeddings::new(cfg, vb.pp("embeddings"))?,
            encoder: BeitEncoder::new(cfg, vb.pp("encoder"))?,
            layernorm,
            pooler,
            device: vb.device().clone(),
        })
    }

    /// The forward pass of HF's `BeitModel`: sequence output, pooled output, and on request the
    /// hidden states and attention maps.
    pub fn forward_base(&self, inputs: &ForwardInputs) -> Result<BaseModelOutput> {
        let pixels = prepare_pixel_values(
            &self.config,
            &inputs.pixel_values,
            &self.device,
            self.embeddings.dtype(),
        )?;
        check_sequence(&self.config, &pixels, inputs.output_attentions)?;
        let mask = match &inputs.bool_masked_pos {
            Some(m) => Some(m.to_device(&self.device)?),
            None => None,
        };
        let (embeddings, window) = self.embeddings.forward(&pixels, mask.as_ref())?;
        let encoded = self.encoder.forward(
            &embeddings,
            window,
            inputs.output_hidden_states,
            inputs.output_attentions,
        )?;
        let mut sequence = encoded.last_hidden_state;
        if let Some(ln) = &self.layernorm {
            sequence = ln.forward(&sequence)?;
        }
        let pooler_output = match &self.pooler {
            Some(p) => Some(p.forward(&sequence)?),
            None => None,
        };
        Ok(BaseModelOutput {
            last_hidden_state: sequence,
            pooler_output,
            hidden_states: encoded.hidden_states,
            attentions: encoded.attentions,
        })
    }
}

/// The base model's tensors: a checkpoint saved from `BeitModel` or `BeitBackbone` has no prefix,
/// one saved from a head model stores them under `beit.` (HF's `base_model_prefix`).
pub fn base_model_weights(vb: VarBuilder) -> VarBuilder {
    if vb.contains_tensor("beit.embeddings.cls_token") {
        vb.pp("beit")
    } else {
        vb
    }
}

impl BeitPreTrainedModel for BeitModel {
    /// Reads a bare checkpoint or the `beit.` part of a head model's, as HF does.
    fn load(cfg: &BeitConfig, vb: VarBuilder) -> Result<Self> {
        Self::new(cfg, base_model_weights(vb), true)
    }

    fn config(&self) -> &BeitConfig {
        &self.config
    }

    fn encoder_mut(&mut self) -> Option<&mut BeitEncoder> {
        Some(&mut self.encoder)
    }

    fn encoder(&self) -> Option<&BeitEncoder> {
        Some(&self.encoder)
    }

    fn forward(&self, inputs: &ForwardInputs) -> Result<ModelOutput> {
        Ok(self.forward_base(inputs)?.into())
    }
}
