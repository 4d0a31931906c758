//! `BeitModel` (modeling_beit.py): embeddings, encoder, final LayerNorm (only without mean
//! pooling) and the optional pooler.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::config::BeitConfig;
use crate::error::Result;
use crate::model::pooler::BeitPooler;
use crate::model::trunk::Trunk;
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
    trunk: Trunk,
    layernorm: Option<LayerNorm>,
    pooler: Option<BeitPooler>,
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
            trunk: Trunk::new(cfg, &vb)?,
            layernorm,
            pooler,
        })
    }

    /// The forward pass of HF's `BeitModel`: sequence output, pooled output, and on request the
    /// hidden states and attention maps.
    pub fn forward_base(&self, inputs: &ForwardInputs) -> Result<BaseModelOutput> {
        Ok(self.forward_with(inputs, false)?.0)
    }

    /// `forward_base` with every hidden state when `all_hidden_states` (the heads that read them
    /// ask), and the patch grid.
    pub fn forward_with(
        &self,
        inputs: &ForwardInputs,
        all_hidden_states: bool,
    ) -> Result<(BaseModelOutput, (usize, usize))> {
        let (encoded, grid) = self.trunk.encode(inputs, all_hidden_states)?;
        let mut sequence = encoded.last_hidden_state;
        if let Some(ln) = &self.layernorm {
            sequence = ln.forward(&sequence)?;
        }
        let pooler_output = match &self.pooler {
            Some(p) => Some(p.forward(&sequence)?),
            None => None,
        };
        let base = BaseModelOutput {
            last_hidden_state: sequence,
            pooler_output,
            hidden_states: encoded.hidden_states,
            attentions: encoded.attentions,
        };
        Ok((base, grid))
    }

    pub fn trunk(&self) -> &Trunk {
        &self.trunk
    }

    pub fn trunk_mut(&mut self) -> &mut Trunk {
        &mut self.trunk
    }
}

/// The base model's tensors: a checkpoint saved from `BeitModel` or `BeitBackbone` has no prefix,
/// one saved from a head model stores them under `beit.` or `data2vec_vision.` (HF's
/// `base_model_prefix`, `BeitConfig::base_model_prefix`).
pub fn base_model_weights<'a>(cfg: &BeitConfig, vb: VarBuilder<'a>) -> VarBuilder<'a> {
    let prefix = cfg.base_model_prefix();
    if vb.contains_tensor(&format!("{prefix}.embeddings.cls_token")) {
        vb.pp(prefix)
    } else {
        vb
    }
}

impl BeitPreTrainedModel for BeitModel {
    /// Reads a bare checkpoint or the base model's part of a head model's, as HF does.
    fn load(cfg: &BeitConfig, vb: VarBuilder) -> Result<Self> {
        Self::new(cfg, base_model_weights(cfg, vb), true)
    }

    fn trunk(&self) -> &Trunk {
        &self.trunk
    }

    fn trunk_mut(&mut self) -> &mut Trunk {
        &mut self.trunk
    }

    fn forward(&self, inputs: &ForwardInputs) -> Result<ModelOutput> {
        Ok(self.forward_base(inputs)?.into())
    }
}
