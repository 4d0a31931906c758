//! `BeitConvModule` (modeling_beit.py, after OpenMMLab): conv (no bias), BatchNorm in eval mode,
//! ReLU; one `ConvLayer` with the BatchNorm and the ReLU folded in.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::heads::conv_layer::{batch_norm, ConvLayer, ConvShape};
use crate::ops::packed_conv::Activation;

#[derive(Debug)]
pub struct ConvModule(ConvLayer);

impl ConvModule {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        padding: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let shape = ConvShape::Conv {
            kernel: kernel_size,
            padding,
        };
        // transformers 5 names Data2Vec-Vision's modules `convolution` and `normalization` (and
        // saves them so); BEiT's checkpoints, and 4.x's of either, have OpenMMLab's names.
        let (conv, norm) = if vb.contains_tensor("convolution.weight") {
            ("convolution", "normalization")
        } else {
            ("conv", "bn")
        };
        let bn = batch_norm(out_channels, vb.pp(norm))?;
        Ok(Self(ConvLayer::new(
            (in_channels, out_channels),
            shape,
            false,
            Some(bn),
            Activation::Relu,
            vb.pp(conv),
        )?))
    }

    /// The module over `inputs` concatenated along the channels.
    pub fn forward(&self, inputs: &[&Tensor]) -> candle_core::Result<Tensor> {
        self.0.forward(inputs)
    }
}
