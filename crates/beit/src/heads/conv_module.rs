//! The convolution blocks of the segmentation heads (modeling_beit.py, after OpenMMLab):
//! `BatchNorm2d` in eval mode, and `BeitConvModule` = conv (no bias) + BatchNorm + ReLU.

use candle_core::{Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Init, VarBuilder};

/// torch's BatchNorm2d default eps; HF's heads never change it.
const BATCH_NORM_EPS: f64 = 1e-5;

/// `BatchNorm2d` with running statistics, folded at load time into one per-channel scale and shift.
#[derive(Debug)]
pub struct BatchNorm2d {
    scale: Tensor,
    shift: Tensor,
}

impl BatchNorm2d {
    pub fn new(channels: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let weight = vb.get_with_hints(channels, "weight", Init::Const(1.0))?;
        let bias = vb.get(channels, "bias")?;
        let mean = vb.get(channels, "running_mean")?;
        let var = vb.get_with_hints(channels, "running_var", Init::Const(1.0))?;
        let scale = (weight / (var + BATCH_NORM_EPS)?.sqrt()?)?;
        let shift = (bias - (&mean * &scale)?)?;
        Ok(Self {
            scale: scale.reshape((1, channels, 1, 1))?,
            shift: shift.reshape((1, channels, 1, 1))?,
        })
    }
}

impl Module for BatchNorm2d {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        xs.broadcast_mul(&self.scale)?.broadcast_add(&self.shift)
    }
}

/// `BeitConvModule`: conv (no bias), BatchNorm, ReLU.
#[derive(Debug)]
pub struct ConvModule {
    conv: Conv2d,
    bn: BatchNorm2d,
}

impl ConvModule {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        padding: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let cfg = Conv2dConfig {
            padding,
            ..Default::default()
        };
        Ok(Self {
            conv: candle_nn::conv2d_no_bias(in_channels, out_channels, kernel_size, cfg, vb.pp("conv"))?,
            bn: BatchNorm2d::new(out_channels, vb.pp("bn"))?,
        })
    }
}

impl Module for ConvModule {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.bn.forward(&self.conv.forward(xs)?)?.relu()
    }
}
