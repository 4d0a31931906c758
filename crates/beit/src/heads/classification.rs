//! `BeitForImageClassification` (modeling_beit.py): a linear classifier on the pooled output, and
//! the loss HF picks from `problem_type` (or infers from the labels' dtype and `num_labels`).

use candle_core::Tensor;
use candle_nn::{Linear, VarBuilder};

use crate::config::BeitConfig;
use crate::error::{BeitError, Result};
use crate::loss;
use crate::model::{BeitModel, Trunk};
use crate::output::{ForwardInputs, ModelOutput};
use crate::pretrained::BeitPreTrainedModel;

#[derive(Debug)]
pub struct BeitForImageClassification {
    beit: BeitModel,
    /// None when `num_labels` is 0: HF's `nn.Identity`, the logits are the pooled features.
    classifier: Option<Linear>,
}

impl BeitForImageClassification {
    fn loss(&self, logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
        let cfg = self.beit.config();
        let num_labels = cfg.num_labels();
        let problem = match cfg.problem_type.as_deref() {
            Some(p) => p,
            None if num_labels == 1 => "regression",
            None if labels.dtype().is_int() => "single_label_classification",
            None => "multi_label_classification",
        };
        match problem {
            "regression" => loss::mse(logits, labels),
            "single_label_classification" => {
                if !labels.dtype().is_int() {
                    return Err(BeitError::Shape(
                        "single-label classification needs int32 class ids as labels".into(),
                    ));
                }
                loss::cross_entropy(logits, labels, loss::IGNORE_INDEX)
            }
            _ => loss::bce_with_logits(logits, &labels.to_device(logits.device())?),
        }
    }
}

impl BeitPreTrainedModel for BeitForImageClassification {
    fn load(cfg: &BeitConfig, vb: VarBuilder) -> Result<Self> {
        let classifier = if cfg.num_labels() > 0 {
            Some(candle_nn::linear(
                cfg.hidden_size,
                cfg.num_labels(),
                vb.pp("classifier"),
            )?)
        } else {
            None
        };
        Ok(Self {
            beit: BeitModel::new(cfg, vb.pp(cfg.base_model_prefix()), true)?,
            classifier,
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
        let pooled = base
            .pooler_output
            .ok_or_else(|| BeitError::Shape("the base model produced no pooled output".into()))?;
        let logits = match &self.classifier {
            // ops::linear rather than candle's: each image's logits equal what it gets alone.
            Some(c) => crate::ops::linear::linear(&pooled, c.weight(), c.bias(), None)?,
            None => pooled,
        };
        let loss = match &inputs.labels {
            Some(labels) => Some(self.loss(&logits, labels)?),
            None => None,
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
