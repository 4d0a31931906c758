//! `BeitForSemanticSegmentation` (modeling_beit.py): four encoder hidden states (HF takes
//! `hidden_states[i - 1]` for each i in `out_indices`), reshaped to maps, through the FPN neck to
//! the UperNet decode head; the auxiliary FCN head only adds to the loss.

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use crate::config::BeitConfig;
use crate::error::{BeitError, Result};
use crate::heads::fcn_head::FcnHead;
use crate::heads::fpn::Fpn;
use crate::heads::uper_head::UperHead;
use crate::loss::cross_entropy;
use crate::model::pixel_values::tokens_to_map;
use crate::model::{BeitModel, Trunk};
use crate::ops::resize_bilinear;
use crate::output::{ForwardInputs, ModelOutput};
use crate::pretrained::BeitPreTrainedModel;

#[derive(Debug)]
pub struct BeitForSemanticSegmentation {
    beit: BeitModel,
    fpn: Fpn,
    decode_head: UperHead,
    auxiliary_head: Option<FcnHead>,
}

/// Rejects configs HF rejects: the neck needs four feature maps.
pub fn require_four_out_indices(cfg: &BeitConfig, class: &str) -> Result<()> {
    let n = cfg.out_indices.as_ref().map_or(0, Vec::len);
    if n != 4 {
        return Err(BeitError::Config(format!(
            "{class} needs out_indices to list 4 layers whose features feed the FPN, got {n}: \
             use e.g. [3, 5, 7, 11] for a base-sized model"
        )));
    }
    Ok(())
}

impl BeitForSemanticSegmentation {
    /// The hidden states HF feeds the neck, as `[B, D, h, w]` maps.
    fn features(&self, hidden: &[Tensor], grid: (usize, usize)) -> Result<Vec<Tensor>> {
        let wanted = self.config().out_indices.clone().unwrap_or_default();
        let features: Vec<Tensor> = hidden
            .iter()
            .enumerate()
            .filter(|(idx, _)| wanted.contains(&(*idx as i64 + 1)))
            .map(|(_, h)| tokens_to_map(h, grid))
            .collect::<Result<_>>()?;
        // A Data2Vec-Vision config's out_indices are not checked against the layers (HF's are
        // not either, and fail later in the neck).
        if features.len() != 4 {
            return Err(BeitError::Config(format!(
                "out_indices {wanted:?} select {} of the {} hidden states; the FPN needs 4: list 4 \
                 layers from 1 to num_hidden_layers",
                features.len(),
                hidden.len()
            )));
        }
        Ok(features)
    }

    /// HF's `compute_loss`: logits upsampled to the label size, cross-entropy ignoring
    /// `semantic_loss_ignore_index`, plus the weighted auxiliary loss.
    fn loss(&self, logits: &Tensor, auxiliary: Option<&Tensor>, labels: &Tensor) -> Result<Tensor> {
        let cfg = self.config();
        if cfg.num_labels() == 1 {
            return Err(BeitError::Config(
                "a segmentation loss needs more than one label (num_labels is 1)".into(),
            ));
        }
        let (b, _, _, _) = logits.dims4()?;
        let [lb, h, w] = labels.dims() else {
            return Err(BeitError::Shape(format!(
                "segmentation labels must have 3 dims [batch, height, width], got {:?}",
                labels.dims()
            )));
        };
        if *lb != b || !labels.dtype().is_int() {
            return Err(BeitError::Shape(format!(
                "segmentation labels must be int32 [{b}, height, width], got {:?} {:?}",
                labels.dtype(),
                labels.dims()
            )));
        }
        let targets = labels.flatten_all()?;
        let per_pixel = |l: &Tensor| -> Result<Tensor> {
            let up = resize_bilinear(&l.to_dtype(DType::F32)?, *h, *w)?;
            let classes = up.dim(1)?;
            let flat = up.permute((0, 2, 3, 1))?.reshape((b * h * w, classes))?;
            cross_entropy(&flat, &targets, cfg.semantic_loss_ignore_index)
        };
        let mut loss = per_pixel(logits)?;
        if let Some(aux) = auxiliary {
            loss = (loss + (per_pixel(aux)? * cfg.auxiliary_loss_weight)?)?;
        }
        Ok(loss)
    }
}

impl BeitPreTrainedModel for BeitForSemanticSegmentation {
    fn check_config(cfg: &BeitConfig) -> Result<()> {
        require_four_out_indices(cfg, "BeitForSemanticSegmentation")
    }

    fn load(cfg: &BeitConfig, vb: VarBuilder) -> Result<Self> {
        let auxiliary_head = if cfg.use_auxiliary_head {
            Some(FcnHead::new(cfg, vb.pp("auxiliary_head"))?)
        } else {
            None
        };
        Ok(Self {
            beit: BeitModel::new(cfg, vb.pp(cfg.base_model_prefix()), false)?,
            fpn: Fpn::new(cfg.hidden_size, vb.clone())?,
            decode_head: UperHead::new(cfg, vb.pp("decode_head"))?,
            auxiliary_head,
        })
    }

    fn trunk(&self) -> &Trunk {
        self.beit.trunk()
    }

    fn trunk_mut(&mut self) -> &mut Trunk {
        self.beit.trunk_mut()
    }

    fn forward(&self, inputs: &ForwardInputs) -> Result<ModelOutput> {
        let (base, grid) = self.beit.forward_with(inputs, true)?;
        let hidden = base.hidden_states.unwrap_or_default();
        let features = self.fpn.forward(&self.features(&hidden, grid)?)?;
        let logits = self.decode_head.forward(&features)?;
        let loss = match &inputs.labels {
            Some(labels) => {
                let auxiliary = match &self.auxiliary_head {
                    Some(head) => Some(head.forward(&features)?),
                    None => None,
                };
                Some(self.loss(&logits, auxiliary.as_ref(), &labels.to_device(logits.device())?)?)
            }
            None => None,
        };
        Ok(ModelOutput {
            loss,
            logits: Some(logits),
            hidden_states: inputs.output_hidden_states.then_some(hidden),
            attentions: base.attentions,
            ..Default::default()
        })
    }
}
