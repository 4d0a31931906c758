//! `BeitForMaskedImageModeling` (modeling_beit.py; BEiT's pre-training task): LayerNorm and a
//! linear head over every patch token (CLS dropped) predicting visual-token ids; the loss takes
//! one label per masked patch, in row-major (image, patch) order.

use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use crate::config::BeitConfig;
use crate::error::{BeitError, Result};
use crate::loss::{cross_entropy, IGNORE_INDEX};
use crate::model::{BeitModel, Trunk};
use crate::ops::LayerNorm;
use crate::output::{ForwardInputs, ModelOutput};
use crate::pretrained::BeitPreTrainedModel;

#[derive(Debug)]
pub struct BeitForMaskedImageModeling {
    beit: BeitModel,
    layernorm: LayerNorm,
    lm_head: Linear,
}

/// The `[B * N]` row numbers where the mask is set: HF's `prediction_scores[bool_masked_pos]`.
fn masked_rows(mask: &Tensor) -> Result<Tensor> {
    let flags = mask
        .flatten_all()?
        .ne(0u8)?
        .to_dtype(candle_core::DType::U8)?
        .to_vec1::<u8>()?;
    let rows: Vec<u32> = flags
        .iter()
        .enumerate()
        .filter(|(_, &f)| f != 0)
        .map(|(i, _)| i as u32)
        .collect();
    let n = rows.len();
    Ok(Tensor::from_vec(rows, n, mask.device())?)
}

impl BeitPreTrainedModel for BeitForMaskedImageModeling {
    fn load(cfg: &BeitConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            beit: BeitModel::new(cfg, vb.pp(cfg.base_model_prefix()), false)?,
            layernorm: LayerNorm::new(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("layernorm"))?,
            lm_head: candle_nn::linear(cfg.hidden_size, cfg.vocab_size, vb.pp("lm_head"))?,
        })
    }

    fn trunk(&self) -> &Trunk {
        self.beit.trunk()
    }

    fn trunk_mut(&mut self) -> &mut Trunk {
        self.beit.trunk_mut()
    }

    fn forward(&self, inputs: &ForwardInputs) -> Result<ModelOutput> {
        let base = self.beit.forward_base(inputs)?;
        let sequence = self.layernorm.forward(&base.last_hidden_state)?;
        let tokens = sequence.dim(1)?;
        // ops::linear rather than candle's: each image's logits equal what it gets alone.
        let patches = sequence.narrow(1, 1, tokens - 1)?;
        let logits = crate::ops::linear::linear(&patches, self.lm_head.weight(), self.lm_head.bias(), None)?;
        let loss = match (&inputs.labels, &inputs.bool_masked_pos) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(BeitError::InvalidArgument(
                    "labels for masked image modeling need boolMaskedPos: one label per masked patch".into(),
                ))
            }
            (Some(labels), Some(mask)) => {
                let (b, n, vocab) = logits.dims3()?;
                let rows = masked_rows(&mask.to_device(logits.device())?)?;
                let picked = logits.reshape((b * n, vocab))?.index_select(&rows, 0)?;
                Some(cross_entropy(
                    &picked,
                    &labels.to_device(logits.device())?,
                    IGNORE_INDEX,
                )?)
            }
        };
        Ok(ModelOutput {
            loss,
            logits: Some(logits),
            hidden_states: base.hidden_states,
            attentions: base.attentions,
            ..Default::default()
        })
    }
}
