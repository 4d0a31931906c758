//! `DPTReassembleStage` (modeling_dpt.py): each backbone feature, a `[B, 1 + h*w, D]` token
//! sequence, becomes an image-like map: the readout (CLS) token is dropped, added, or concatenated
//! and projected; the tokens are laid out on the patch grid, projected to the stage's channels by a
//! 1x1 convolution, and resized (a transposed convolution up, a strided one down).

use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use crate::activation::Activation;
use crate::dpt_config::{reassemble_step, DptConfig, ReassembleStep};
use crate::error::Result;
use crate::heads::conv_layer::{ConvLayer, ConvShape};
use crate::model::pixel_values::tokens_to_map;
use crate::ops::packed_conv::Activation as ConvActivation;

/// What becomes of the readout token (`readout_type`).
#[derive(Debug)]
enum Readout {
    Ignore,
    Add,
    /// `Linear(2D, D)` and the activation over `[tokens, readout]`.
    Project(Linear, Activation),
}

#[derive(Debug)]
struct ReassembleLayer {
    projection: ConvLayer,
    resize: Option<ConvLayer>,
}

#[derive(Debug)]
pub struct DptReassemble {
    readouts: Vec<Readout>,
    layers: Vec<ReassembleLayer>,
}

fn plain_conv(channels: (usize, usize), shape: ConvShape, vb: VarBuilder) -> candle_core::Result<ConvLayer> {
    ConvLayer::new(channels, shape, true, None, ConvActivation::Identity, vb)
}

impl ReassembleLayer {
    fn new(hidden: usize, channels: usize, factor: f64, vb: VarBuilder) -> Result<Self> {
        let one_by_one = ConvShape::Conv {
            kernel: 1,
            padding: 0,
        };
        let resize = match reassemble_step(factor)? {
            ReassembleStep::Keep => None,
            ReassembleStep::Up(f) => Some(plain_conv(
                (channels, channels),
                ConvShape::Up(f),
                vb.pp("resize"),
            )?),
            ReassembleStep::Down(stride) => {
                let shape = ConvShape::Strided {
                    kernel: 3,
                    stride,
                    padding: 1,
                };
                Some(plain_conv((channels, channels), shape, vb.pp("resize"))?)
            }
        };
        Ok(Self {
            projection: plain_conv((hidden, channels), one_by_one, vb.pp("projection"))?,
            resize,
        })
    }

    fn forward(&self, map: &Tensor) -> candle_core::Result<Tensor> {
        let projected = self.projection.forward(&[map])?;
        match &self.resize {
            Some(resize) => resize.forward(&[&projected]),
            None => Ok(projected),
        }
    }
}

impl Readout {
    fn new(dpt: &DptConfig, hidden: usize, vb: VarBuilder) -> Result<Self> {
        Ok(match dpt.readout_type.as_str() {
            "ignore" => Self::Ignore,
            "add" => Self::Add,
            _ => Self::Project(
                candle_nn::linear(2 * hidden, hidden, vb.pp("0"))?,
                Activation::parse(&dpt.hidden_act)?,
            ),
        })
    }

    /// `[B, 1 + N, D]` to `[B, 1 + N, D]` whose CLS slot the next step drops (`tokens_to_map`).
    fn apply(&self, tokens: &Tensor) -> candle_core::Result<Tensor> {
        let (b, s, d) = tokens.dims3()?;
        let readout = tokens.narrow(1, 0, 1)?;
        match self {
            Self::Ignore => Ok(tokens.clone()),
            Self::Add => tokens.broadcast_add(&readout),
            Self::Project(linear, act) => {
                let patches = tokens.narrow(1, 1, s - 1)?;
                let both = Tensor::cat(&[&patches, &readout.broadcast_as((b, s - 1, d))?], 2)?;
                // A cat along the last dim is a strided view, which candle's CUDA matmul refuses.
                let projected = act.forward(&linear.forward(&both.contiguous()?)?)?;
                Tensor::cat(&[&readout, &projected], 1)
            }
        }
    }
}

impl DptReassemble {
    pub fn new(dpt: &DptConfig, hidden: usize, vb: VarBuilder) -> Result<Self> {
        let stages = dpt.neck_hidden_sizes.len();
        let readouts = (0..stages)
            .map(|i| Readout::new(dpt, hidden, vb.pp(format!("readout_projects.{i}"))))
            .collect::<Result<_>>()?;
        let layers = dpt
            .neck_hidden_sizes
            .iter()
            .zip(&dpt.reassemble_factors)
            .enumerate()
            .map(|(i, (&channels, &factor))| {
                ReassembleLayer::new(hidden, channels, factor, vb.pp(format!("layers.{i}")))
            })
            .collect::<Result<_>>()?;
        Ok(Self { readouts, layers })
    }

    /// The backbone's token sequences on a `grid` of patches to one map per stage.
    pub fn forward(&self, features: &[Tensor], grid: (usize, usize)) -> Result<Vec<Tensor>> {
        features
            .iter()
            .zip(self.readouts.iter().zip(&self.layers))
            .map(|(tokens, (readout, layer))| {
                let map = tokens_to_map(&readout.apply(tokens)?, grid)?;
                Ok(layer.forward(&map.contiguous()?)?)
            })
            .collect()
    }
}
