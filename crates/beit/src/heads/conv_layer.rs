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
    /// `ConvTranspose2d(in, out, factor, stride factor)` for another factor (DPT's reassembly).
    Up(usize),
    /// `Conv2d(in, out, kernel, stride, padding)` with a stride over 1 (DPT's downsampling).
    Strided {
        kernel: usize,
        stride: usize,
        padding: usize,
    },
}

impl ConvShape {
    /// Whether `ops::packed_conv` has a layout for it (stride 1, or up by 2).
    fn packs(self) -> bool {
        matches!(self, Self::Conv { .. } | Self::Up2x2)
    }
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
    /// A transposed convolution whose kernel equals its stride (2 or DPT's 4).
    Transposed(ConvTranspose2d),
}

fn conv2d(
    (in_channels, out_channels): (usize, usize),
    kernel: usize,
    stride: usize,
    padding: usize,
    bias: bool,
    vb: VarBuilder,
) -> candle_core::Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding,
        stride,
        ..Default::default()
    };
    match bias {
        true => candle_nn::conv2d(in_channels, out_channels, kernel, cfg, vb),
        false => candle_nn::conv2d_no_bias(in_channels, out_channels, kernel, cfg, vb),
    }
}

/// `ConvTranspose2d(in, out, factor, stride factor)`.
fn conv_transpose2d(
    (in_channels, out_channels): (usize, usize),
    factor: usize,
    bias: bool,
    vb: VarBuilder,
) -> candle_core::Result<ConvTranspose2d> {
    let cfg = ConvTranspose2dConfig {
        stride: factor,
        ..Default::default()
    };
    match bias {
        true => candle_nn::conv_transpose2d(in_channels, out_channels, factor, cfg, vb),
        false => candle_nn::conv_transpose2d_no_bias(in_channels, out_channels, factor, cfg, vb),
    }
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
        let packs = vb.device().is_cpu() && vb.dtype() == DType::F32 && shape.packs();
        let channels = (in_channels, out_channels);
        let conv = match shape {
            ConvShape::Conv { kernel, padding } => {
                PlainConv::Conv(conv2d(channels, kernel, 1, padding, bias, vb)?)
            }
            ConvShape::Strided {
                kernel,
                stride,
                padding,
            } => PlainConv::Conv(conv2d(channels, kernel, stride, padding, bias, vb)?),
            ConvShape::Up2x2 => PlainConv::Transposed(conv_transpose2d(channels, 2, bias, vb)?),
            ConvShape::Up(factor) => PlainConv::Transposed(conv_transpose2d(channels, factor, bias, vb)?),
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
            (PlainConv::Transposed(c), _) => PackedConv2d::up2x2(c.weight(), c.bias(), affine, activation)?,
            (PlainConv::Conv(_), _) => unreachable!("only stride-1 convolutions pack"),
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
                    PlainConv::Transposed(c) => c.forward(&x)?,
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
