//! A convolution of the dense heads with what follows it (an eval-mode BatchNorm, an activation)
//! folded in: on the CPU in f32 one packed layer (`ops::packed_conv`), elsewhere candle's
//! convolution and the same steps as tensor ops.

use candle_core::{DType, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, Init, VarBuilder};

use crate::ops::packed_conv::{Activation, ChannelAffine, PackedConv2d};

/// torch's BatchNorm2d default eps; HF's heads never change it.
const BATCH_NORM_EPS: f64 = 1e-5;

/// `BatchNorm2d` with running statistics, as one per-channel scale and shift.
pub fn batch_norm(channels: usize, vb: VarBuilder) -> candle_core::Result<ChannelAffine> {
    let weight = vb.get_with_hints(channels, "weight", Init::Const(1.0))?;
    let bias = vb.get(channels, "bias")?;
    let mean = vb.get(channels, "running_mean")?;
    let var = vb.get_with_hints(channels, "running_var", Init::Const(1.0))?;
    let scale = (weight / (var + BATCH_NORM_EPS)?.sqrt()?)?;
    let shift = (bias - (&mean * &scale)?)?;
    Ok(ChannelAffine {
        scale: scale.to_dtype(DType::F32)?.to_vec1()?,
        shift: shift.to_dtype(DType::F32)?.to_vec1()?,
    })
}

/// How the layer's convolution is laid out.
#[derive(Clone, Copy, Debug)]
pub enum ConvShape {
    /// `Conv2d(in, out, kernel, stride 1, padding)`.
    Conv { kernel: usize, padding: usize },
    /// `ConvTranspose2d(in, out, 2, stride 2)`.
    Up2x2,
}

#[derive(Debug)]
pub enum ConvLayer {
    Packed(PackedConv2d),
    Plain {
        conv: PlainConv,
        affine: Option<ChannelAffine>,
        activation: Activation,
    },
}

#[derive(Debug)]
pub enum PlainConv {
    Conv(Conv2d),
    Up2x2(ConvTranspose2d),
}

impl ConvLayer {
    /// The convolution under `vb` (`weight`, and `bias` if `bias`), then the BatchNorm under
    /// `batch_norm` if any, then `activation`.
    pub fn new(
        (in_channels, out_channels): (usize, usize),
        shape: ConvShape,
        bias: bool,
        batch_norm: Option<ChannelAffine>,
        activation: Activation,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let packs = vb.device().is_cpu() && vb.dtype() == DType::F32;
        let conv = match shape {
            ConvShape::Conv { kernel, padding } => {
                let cfg = Conv2dConfig {
                    padding,
                    ..Default::default()
                };
                PlainConv::Conv(match bias {
                    true => candle_nn::conv2d(in_channels, out_channels, kernel, cfg, vb)?,
                    false => candle_nn::conv2d_no_bias(in_channels, out_channels, kernel, cfg, vb)?,
                })
            }
            ConvShape::Up2x2 => {
                let cfg = ConvTranspose2dConfig {
                    stride: 2,
                    ..Default::default()
                };
                PlainConv::Up2x2(match bias {
                    true => candle_nn::conv_transpose2d(in_channels, out_channels, 2, cfg, vb)?,
                    false => candle_nn::conv_transpose2d_no_bias(in_channels, out_channels, 2, cfg, vb)?,
                })
            }
        };
        if !packs {
            return Ok(Self::Plain {
                conv,
                affine: batch_norm,
                activation,
            });
        }
        // The packed layer keeps its own copy; candle's weight tensor goes with `conv`.
        let affine = batch_norm.as_ref();
        Ok(Self::Packed(match (&conv, shape) {
            (PlainConv::Conv(c), ConvShape::Conv { padding, .. }) => {
                PackedConv2d::conv(c.weight(), c.bias(), affine, padding, activation)?
            }
            (PlainConv::Up2x2(c), _) => PackedConv2d::up2x2(c.weight(), c.bias(), affine, activation)?,
            (PlainConv::Conv(_), ConvShape::Up2x2) => unreachable!("built together above"),
        }))
    }

    /// The layer over `inputs` concatenated along the channels (without building the concatenation
    /// where the layer is packed).
    pub fn forward(&self, inputs: &[&Tensor]) -> candle_core::Result<Tensor> {
        match self {
            Self::Packed(layer) => layer.forward(inputs),
            Self::Plain {
                conv,
                affine,
                activation,
            } => {
                let x = match inputs {
                    [one] => (*one).clone(),
                    many => Tensor::cat(many, 1)?,
                };
                let y = match conv {
                    PlainConv::Conv(c) => c.forward(&x)?,
                    PlainConv::Up2x2(c) => c.forward(&x)?,
                };
                let y = match affine {
                    Some(a) => {
                        let c = a.scale.len();
                        let scale =
                            Tensor::from_slice(&a.scale, (1, c, 1, 1), y.device())?.to_dtype(y.dtype())?;
                        let shift =
                            Tensor::from_slice(&a.shift, (1, c, 1, 1), y.device())?.to_dtype(y.dtype())?;
                        y.broadcast_mul(&scale)?.broadcast_add(&shift)?
                    }
                    None => y,
                };
                match activation {
                    Activation::Identity => Ok(y),
                    Activation::Relu => y.relu(),
                    Activation::GeluErf => crate::ops::gelu_erf(&y),
                }
            }
        }
    }
}
