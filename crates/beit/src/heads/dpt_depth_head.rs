//! `DPTDepthEstimationHead` (modeling_dpt.py): from one fused map, a 3x3 conv halving the
//! channels, a 2x bilinear upsampling (corners aligned), a 3x3 conv to 32 channels, a 1x1 conv to
//! one, each of the last two with a ReLU; optionally a 3x3 projection with a ReLU first.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::dpt_config::DptConfig;
use crate::error::Result;
use crate::heads::conv_layer::{ConvLayer, ConvShape};
use crate::ops::packed_conv::Activation;
use crate::ops::resize_bilinear_aligned;

/// The channels of the head's middle convolution (fixed in HF).
const MIDDLE_CHANNELS: usize = 32;

#[derive(Debug)]
pub struct DptDepthHead {
    projection: Option<ConvLayer>,
    halve: ConvLayer,
    middle: ConvLayer,
    depth: ConvLayer,
}

fn conv(
    channels: (usize, usize),
    kernel: usize,
    activation: Activation,
    vb: VarBuilder,
) -> Result<ConvLayer> {
    let shape = ConvShape::Conv {
        kernel,
        padding: kernel / 2,
    };
    Ok(ConvLayer::new(channels, shape, true, None, activation, vb)?)
}

impl DptDepthHead {
    pub fn new(dpt: &DptConfig, vb: VarBuilder) -> Result<Self> {
        let ch = dpt.fusion_hidden_size;
        let projection = match dpt.add_projection {
            true => Some(conv((ch, ch), 3, Activation::Relu, vb.pp("projection"))?),
            false => None,
        };
        let vb = vb.pp("head");
        Ok(Self {
            projection,
            halve: conv((ch, ch / 2), 3, Activation::Identity, vb.pp("0"))?,
            middle: conv((ch / 2, MIDDLE_CHANNELS), 3, Activation::Relu, vb.pp("2"))?,
            depth: conv((MIDDLE_CHANNELS, 1), 1, Activation::Relu, vb.pp("4"))?,
        })
    }

    /// `[B, C, h, w]` to the `[B, 2h, 2w]` predicted depth.
    pub fn forward(&self, map: &Tensor) -> candle_core::Result<Tensor> {
        let map = match &self.projection {
            Some(p) => p.forward(&[map])?,
            None => map.clone(),
        };
        let halved = self.halve.forward(&[&map])?;
        let (_, _, h, w) = halved.dims4()?;
        let up = resize_bilinear_aligned(&halved, 2 * h, 2 * w)?;
        let middle = self.middle.forward(&[&up])?;
        self.depth.forward(&[&middle])?.squeeze(1)
    }
}
