//! `DPTFeatureFusionStage` (modeling_dpt.py): RefineNet-style fusion from the coarsest map to the
//! finest. Each layer adds the next finer map (through a residual unit, resized to fit when odd
//! sizes made them differ), refines, doubles the size (bilinear, corners aligned) and projects.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::dpt_config::DptConfig;
use crate::error::Result;
use crate::heads::conv_layer::{batch_norm, ConvLayer, ConvShape};
use crate::ops::packed_conv::Activation;
use crate::ops::{resize_bilinear, resize_bilinear_aligned};

/// `DPTPreActResidualLayer`: `x + conv2(relu(conv1(relu(x))))`, each conv optionally followed by
/// an eval-mode BatchNorm (folded into the conv).
#[derive(Debug)]
struct ResidualUnit {
    conv1: ConvLayer,
    conv2: ConvLayer,
}

impl ResidualUnit {
    fn new(dpt: &DptConfig, vb: VarBuilder) -> Result<Self> {
        let ch = dpt.fusion_hidden_size;
        let conv = |i: usize, activation: Activation| -> Result<ConvLayer> {
            let norm = match dpt.batch_norm() {
                true => Some(batch_norm(ch, vb.pp(format!("batch_norm{i}")))?),
                false => None,
            };
            let shape = ConvShape::Conv {
                kernel: 3,
                padding: 1,
            };
            let vb = vb.pp(format!("convolution{i}"));
            Ok(ConvLayer::new(
                (ch, ch),
                shape,
                dpt.fusion_bias(),
                norm,
                activation,
                vb,
            )?)
        };
        Ok(Self {
            conv1: conv(1, Activation::Relu)?,
            conv2: conv(2, Activation::Identity)?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let inner = self.conv1.forward(&[&x.relu()?])?;
        self.conv2.forward(&[&inner])? + x
    }
}

/// `DPTFeatureFusionLayer`.
#[derive(Debug)]
struct FusionLayer {
    residual1: ResidualUnit,
    residual2: ResidualUnit,
    projection: ConvLayer,
}

impl FusionLayer {
    fn new(dpt: &DptConfig, vb: VarBuilder) -> Result<Self> {
        let ch = dpt.fusion_hidden_size;
        let one_by_one = ConvShape::Conv {
            kernel: 1,
            padding: 0,
        };
        Ok(Self {
            residual1: ResidualUnit::new(dpt, vb.pp("residual_layer1"))?,
            residual2: ResidualUnit::new(dpt, vb.pp("residual_layer2"))?,
            projection: ConvLayer::new(
                (ch, ch),
                one_by_one,
                true,
                None,
                Activation::Identity,
                vb.pp("projection"),
            )?,
        })
    }

    fn forward(&self, x: &Tensor, finer: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let x = match finer {
            Some(finer) => {
                let finer = resize_bilinear(finer, h, w)?;
                (x + self.residual1.forward(&finer)?)?
            }
            None => x.clone(),
        };
        let refined = self.residual2.forward(&x)?;
        self.projection
            .forward(&[&resize_bilinear_aligned(&refined, 2 * h, 2 * w)?])
    }
}

#[derive(Debug)]
pub struct DptFusion(Vec<FusionLayer>);

impl DptFusion {
    pub fn new(dpt: &DptConfig, vb: VarBuilder) -> Result<Self> {
        let layers = (0..dpt.neck_hidden_sizes.len())
            .map(|i| FusionLayer::new(dpt, vb.pp(format!("layers.{i}"))))
            .collect::<Result<_>>()?;
        Ok(Self(layers))
    }

    /// Maps fine to coarse in, fused maps coarse to fine out (HF's order).
    pub fn forward(&self, maps: &[Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let mut fused: Vec<Tensor> = Vec::with_capacity(maps.len());
        for (map, layer) in maps.iter().rev().zip(&self.0) {
            let next = match fused.last() {
                None => layer.forward(map, None)?,
                Some(coarser) => layer.forward(coarser, Some(map))?,
            };
            fused.push(next);
        }
        Ok(fused)
    }
}
