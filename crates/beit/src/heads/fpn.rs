//! The multi-scale neck of BEiT's dense heads (modeling_beit.py `fpn1`..`fpn4`): four ViT feature
//! maps at 1/16 become maps at 1/4 (ConvTranspose, BatchNorm, GELU, ConvTranspose), 1/8
//! (ConvTranspose), 1/16 (identity) and 1/32 (MaxPool 2, floor). The BatchNorm and the GELU are
//! folded into the first transposed convolution.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::error::{BeitError, Result};
use crate::heads::conv_layer::{batch_norm, ConvLayer, ConvShape};
use crate::ops::max_pool2x2;
use crate::ops::packed_conv::{Activation, ChannelAffine};

#[derive(Debug)]
pub struct Fpn {
    up4_a: ConvLayer,
    up4_b: ConvLayer,
    up2: ConvLayer,
}

fn up2x(
    channels: usize,
    batch_norm: Option<ChannelAffine>,
    activation: Activation,
    vb: VarBuilder,
) -> candle_core::Result<ConvLayer> {
    ConvLayer::new(
        (channels, channels),
        ConvShape::Up2x2,
        true,
        batch_norm,
        activation,
        vb,
    )
}

impl Fpn {
    /// Loads `fpn1.{0,1,3}` and `fpn2.0` under `vb`.
    pub fn new(hidden: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let bn = batch_norm(hidden, vb.pp("fpn1.1"))?;
        Ok(Self {
            up4_a: up2x(hidden, Some(bn), Activation::GeluErf, vb.pp("fpn1.0"))?,
            up4_b: up2x(hidden, None, Activation::Identity, vb.pp("fpn1.3"))?,
            up2: up2x(hidden, None, Activation::Identity, vb.pp("fpn2.0"))?,
        })
    }

    /// Applies the four branches to the four feature maps, in order.
    pub fn forward(&self, features: &[Tensor]) -> Result<Vec<Tensor>> {
        let [f1, f2, f3, f4] = features else {
            return Err(BeitError::Config(format!(
                "the FPN needs exactly 4 feature maps (4 out_indices), got {}",
                features.len()
            )));
        };
        let x4 = self.up4_b.forward(&[&self.up4_a.forward(&[f1])?])?;
        Ok(vec![x4, self.up2.forward(&[f2])?, f3.clone(), max_pool2x2(f4)?])
    }
}
