//! `BeitBackbone` (modeling_beit.py, HF's BackboneMixin): the encoder's hidden state at each stage
//! named in `out_features` (here `hidden_states[i]`, unlike segmentation's `[i - 1]`), as
//! `[B, D, h, w]` maps or raw sequences, optionally through the FPN neck.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::config::BeitConfig;
use crate::error::{BeitError, Result};
use crate::heads::fpn::Fpn;
use crate::heads::semantic_segmentation::require_four_out_indices;
use crate::model::beit_model::base_model_weights;
use crate::model::pixel_values::tokens_to_map;
use crate::model::Trunk;
use crate::output::{ForwardInputs, ModelOutput};
use crate::pretrained::BeitPreTrainedModel;

#[derive(Debug)]
pub struct BeitBackbone {
    trunk: Trunk,
    fpn: Option<Fpn>,
}

impl BeitBackbone {
    fn check_inputs(inputs: &ForwardInputs) -> Result<()> {
        if inputs.bool_masked_pos.is_some() || inputs.labels.is_some() {
            return Err(BeitError::InvalidArgument(
                "BeitBackbone takes neither boolMaskedPos nor labels: it only returns feature maps".into(),
            ));
        }
        Ok(())
    }

    fn feature_maps(&self, hidden: &[Tensor], grid: (usize, usize)) -> Result<Vec<Tensor>> {
        let config = self.config();
        let wanted = config.out_features.clone().unwrap_or_default();
        let mut maps = Vec::new();
        for (stage, h) in config.stage_names.iter().zip(hidden) {
            if wanted.contains(stage) {
                maps.push(if config.reshape_hidden_states {
                    tokens_to_map(h, grid)?
                } else {
                    h.clone()
                });
            }
        }
        match &self.fpn {
            Some(fpn) => fpn.forward(&maps),
            None => Ok(maps),
        }
    }
}

impl BeitPreTrainedModel for BeitBackbone {
    fn check_config(cfg: &BeitConfig) -> Result<()> {
        if cfg.add_fpn {
            require_four_out_indices(cfg, "BeitBackbone with add_fpn")?;
        }
        Ok(())
    }

    /// Like `BeitModel`, reads a bare checkpoint or the `beit.` part of a head checkpoint.
    fn load(cfg: &BeitConfig, vb: VarBuilder) -> Result<Self> {
        let vb = base_model_weights(cfg, vb);
        let fpn = if cfg.add_fpn {
            Some(Fpn::new(cfg.hidden_size, vb.clone())?)
        } else {
            None
        };
        Ok(Self {
            trunk: Trunk::new(cfg, &vb)?,
            fpn,
        })
    }

    fn trunk(&self) -> &Trunk {
        &self.trunk
    }

    fn trunk_mut(&mut self) -> &mut Trunk {
        &mut self.trunk
    }

    fn forward(&self, inputs: &ForwardInputs) -> Result<ModelOutput> {
        Self::check_inputs(inputs)?;
        let (encoded, grid) = self.trunk.encode(inputs, true)?;
        let hidden = encoded.hidden_states.unwrap_or_default();
        Ok(ModelOutput {
            feature_maps: Some(self.feature_maps(&hidden, grid)?),
            hidden_states: inputs.output_hidden_states.then_some(hidden),
            attentions: encoded.attentions,
            ..Default::default()
        })
    }
}
