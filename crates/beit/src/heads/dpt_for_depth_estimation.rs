//! `DPTForDepthEstimation` (modeling_dpt.py) on a BEiT backbone (`Intel/dpt-beit-*`): the
//! backbone's token sequences at `out_indices`, reassembled into maps at four scales, fused from
//! coarse to fine, and the depth head; `predicted_depth` is `[B, H, W]` at the input's size when
//! the patch grid covers it.

use candle_nn::VarBuilder;

use crate::config::BeitConfig;
use crate::dpt_config::DptConfig;
use crate::error::{BeitError, Result};
use crate::heads::conv_layer::{ConvLayer, ConvShape};
use crate::heads::dpt_depth_head::DptDepthHead;
use crate::heads::dpt_fusion::DptFusion;
use crate::heads::dpt_reassemble::DptReassemble;
use crate::heads::BeitBackbone;
use crate::model::pixel_values::patch_grid;
use crate::model::Trunk;
use crate::ops::packed_conv::Activation;
use crate::output::{ForwardInputs, ModelOutput};
use crate::pretrained::BeitPreTrainedModel;

#[derive(Debug)]
pub struct DptForDepthEstimation {
    backbone: BeitBackbone,
    reassemble: DptReassemble,
    /// `neck.convs`: each map to the fusion width (3x3, no bias).
    convs: Vec<ConvLayer>,
    fusion: DptFusion,
    head: DptDepthHead,
    head_index: usize,
}

fn dpt_part(cfg: &BeitConfig) -> Result<&DptConfig> {
    cfg.dpt.as_deref().ok_or_else(|| {
        BeitError::Config(
            "DPTForDepthEstimation needs a DPT config (model_type \"dpt\" with a BEiT backbone_config, \
             as Intel/dpt-beit-base-384 has); this one is a plain BEiT config"
                .into(),
        )
    })
}

impl BeitPreTrainedModel for DptForDepthEstimation {
    fn check_config(cfg: &BeitConfig) -> Result<()> {
        dpt_part(cfg).map(|_| ())
    }

    fn load(cfg: &BeitConfig, vb: VarBuilder) -> Result<Self> {
        let dpt = dpt_part(cfg)?;
        let neck = vb.pp("neck");
        let shape = ConvShape::Conv {
            kernel: 3,
            padding: 1,
        };
        let convs = dpt
            .neck_hidden_sizes
            .iter()
            .enumerate()
            .map(|(i, &ch)| {
                let channels = (ch, dpt.fusion_hidden_size);
                let vb = neck.pp(format!("convs.{i}"));
                ConvLayer::new(channels, shape, false, None, Activation::Identity, vb)
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            backbone: BeitBackbone::load(cfg, vb.clone())?,
            reassemble: DptReassemble::new(dpt, cfg.hidden_size, neck.pp("reassemble_stage"))?,
            convs,
            fusion: DptFusion::new(dpt, neck.pp("fusion_stage"))?,
            head: DptDepthHead::new(dpt, vb.pp("head"))?,
            head_index: dpt.head_index(),
        })
    }

    fn trunk(&self) -> &Trunk {
        self.backbone.trunk()
    }

    fn trunk_mut(&mut self) -> &mut Trunk {
        self.backbone.trunk_mut()
    }

    fn forward(&self, inputs: &ForwardInputs) -> Result<ModelOutput> {
        if inputs.labels.is_some() {
            return Err(BeitError::InvalidArgument(
                "DPTForDepthEstimation computes no loss (HF does not train it either): drop labels".into(),
            ));
        }
        let grid = patch_grid(self.config(), &inputs.pixel_values)?;
        let out = self.backbone.forward(inputs)?;
        let features = out.feature_maps.unwrap_or_default();
        let maps = self.reassemble.forward(&features, grid)?;
        let maps = self
            .convs
            .iter()
            .zip(&maps)
            .map(|(conv, map)| conv.forward(&[map]))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let fused = self.fusion.forward(&maps)?;
        Ok(ModelOutput {
            predicted_depth: Some(self.head.forward(&fused[self.head_index])?),
            hidden_states: out.hidden_states,
            attentions: out.attentions,
            ..Default::default()
        })
    }
}
