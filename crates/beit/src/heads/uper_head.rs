//! `BeitUperHead` (modeling_beit.py; UPerNet, Xiao et al. 2018, after OpenMMLab): a pyramid
//! pooling module on the coarsest map, lateral 1x1 convs, a top-down path of bilinear upsampling
//! and adds, 3x3 fpn convs, everything resized to the finest map, concatenated, fused, classified.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::config::BeitConfig;
use crate::error::{BeitError, Result};
use crate::heads::conv_layer::{ConvLayer, ConvShape};
use crate::heads::conv_module::ConvModule;
use crate::ops::packed_conv::Activation;
use crate::ops::{adaptive_avg_pool2d, resize_bilinear};

#[derive(Debug)]
pub struct UperHead {
    pool_scales: Vec<usize>,
    psp_modules: Vec<ConvModule>,
    bottleneck: ConvModule,
    lateral_convs: Vec<ConvModule>,
    fpn_convs: Vec<ConvModule>,
    fpn_bottleneck: ConvModule,
    classifier: ConvLayer,
}

/// The 1x1 convolution with a bias that turns a head's channels into class logits.
pub fn classifier(channels: usize, labels: usize, vb: VarBuilder) -> candle_core::Result<ConvLayer> {
    let shape = ConvShape::Conv {
        kernel: 1,
        padding: 0,
    };
    ConvLayer::new((channels, labels), shape, true, None, Activation::Identity, vb)
}

fn resize_like(xs: &Tensor, like: &Tensor) -> candle_core::Result<Tensor> {
    let (_, _, h, w) = like.dims4()?;
    resize_bilinear(xs, h, w)
}

impl UperHead {
    pub fn new(cfg: &BeitConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let ch = cfg.hidden_size;
        let scales = &cfg.pool_scales;
        // transformers 5 names Data2Vec-Vision's pyramid pooling anew (and saves it so; see
        // `ConvModule`): `psp_modules.blocks.{i}.conv` and `psp_bottleneck`.
        let renamed = vb.contains_tensor("psp_bottleneck.convolution.weight");
        let psp = |i: usize| {
            if renamed {
                format!("psp_modules.blocks.{i}.conv")
            } else {
                format!("psp_modules.{i}.1")
            }
        };
        let bottleneck = if renamed { "psp_bottleneck" } else { "bottleneck" };
        let psp_modules = (0..scales.len())
            .map(|i| ConvModule::new(ch, ch, 1, 0, vb.pp(psp(i))))
            .collect::<candle_core::Result<_>>()?;
        let lateral_convs = (0..3)
            .map(|i| ConvModule::new(ch, ch, 1, 0, vb.pp(format!("lateral_convs.{i}"))))
            .collect::<candle_core::Result<_>>()?;
        let fpn_convs = (0..3)
            .map(|i| ConvModule::new(ch, ch, 3, 1, vb.pp(format!("fpn_convs.{i}"))))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            pool_scales: scales.clone(),
            psp_modules,
            bottleneck: ConvModule::new(ch + scales.len() * ch, ch, 3, 1, vb.pp(bottleneck))?,
            lateral_convs,
            fpn_convs,
            fpn_bottleneck: ConvModule::new(4 * ch, ch, 3, 1, vb.pp("fpn_bottleneck"))?,
            classifier: classifier(ch, cfg.num_labels(), vb.pp("classifier"))?,
        })
    }

    /// PSP on the coarsest map: `[x, pool(s) for s in pool_scales]`, each upsampled back, fused.
    fn psp_forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut outs = vec![x.clone()];
        for (scale, module) in self.pool_scales.iter().zip(&self.psp_modules) {
            let pooled = module.forward(&[&adaptive_avg_pool2d(x, *scale, *scale)?])?;
            outs.push(resize_like(&pooled, x)?);
        }
        self.bottleneck.forward(&outs.iter().collect::<Vec<_>>())
    }

    /// Four feature maps (fine to coarse) to `[B, num_labels, H1, W1]` logits at the finest size.
    pub fn forward(&self, features: &[Tensor]) -> Result<Tensor> {
        if features.len() != 4 {
            return Err(BeitError::Config(format!(
                "the UperNet head needs 4 feature maps, got {}",
                features.len()
            )));
        }
        let mut laterals = self
            .lateral_convs
            .iter()
            .zip(features)
            .map(|(conv, f)| conv.forward(&[f]))
            .collect::<candle_core::Result<Vec<_>>>()?;
        laterals.push(self.psp_forward(&features[3])?);
        for i in (1..laterals.len()).rev() {
            let up = resize_like(&laterals[i], &laterals[i - 1])?;
            laterals[i - 1] = (&laterals[i - 1] + up)?;
        }
        let mut outs = self
            .fpn_convs
            .iter()
            .zip(&laterals)
            .map(|(conv, l)| conv.forward(&[l]))
            .collect::<candle_core::Result<Vec<_>>>()?;
        outs.push(laterals[3].clone());
        for i in 1..outs.len() {
            outs[i] = resize_like(&outs[i], &outs[0])?;
        }
        let fused = self.fpn_bottleneck.forward(&outs.iter().collect::<Vec<_>>())?;
        Ok(self.classifier.forward(&[&fused])?)
    }
}
