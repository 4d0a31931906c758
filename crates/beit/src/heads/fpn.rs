//! The multi-scale neck of BEiT's dense heads (modeling_beit.py `fpn1`..`fpn4`): four ViT feature
//! maps at 1/16 become maps at 1/4 (ConvTranspose, BatchNorm, GELU, ConvTranspose), 1/8
//! (ConvTranspose), 1/16 (identity) and 1/32 (MaxPool 2, floor).

use candle_core::{Module, Tensor};
use candle_nn::{ConvTranspose2d, ConvTranspose2dConfig, VarBuilder};

use crate::error::{BeitError, Result};
use crate::heads::conv_module::BatchNorm2d;
use crate::ops::max_pool2x2;

#[derive(Debug)]
pub struct Fpn {
    up4_a: ConvTranspose2d,
    up4_bn: BatchNorm2d,
    up4_b: ConvTranspose2d,
    up2: ConvTranspose2d,
}

fn up2x(channels: usize, vb: VarBuilder) -> candle_core::Result<ConvTranspose2d> {
    let cfg = ConvTranspose2dConfig {
        stride: 2,
        ..Default::default()
    };
    candle_nn::conv_transpose2d(channels, channels, 2, cfg, vb)
}

impl Fpn {
    /// Loads `fpn1.{0,1,3}` and `fpn2.0` under `vb`.
    pub fn new(hidden: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            up4_a: up2x(hidden, vb.pp("fpn1.0"))?,
            up4_bn: BatchNorm2d::new(hidden, vb.pp("fpn1.1"))?,
            up4_b: up2x(hidden, vb.pp("fpn1.3"))?,
            up2: up2x(hidden, vb.pp("fpn2.0"))?,
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
        let x4 = self.up4_a.forward(f1)?;
        let x4 = self.up4_b.forward(&self.up4_bn.forward(&x4)?.gelu_erf()?)?;
        Ok(vec![x4, self.up2.forward(f2)?, f3.clone(), max_pool2x2(f4)?])
    }
}
