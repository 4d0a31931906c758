//! `BeitFCNHead` (modeling_beit.py; FCN, Long et al. 2015, after OpenMMLab): the auxiliary head of
//! segmentation, on the third feature map; it only feeds the loss.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::config::BeitConfig;
use crate::heads::conv_layer::ConvLayer;
use crate::heads::conv_module::ConvModule;
use crate::heads::uper_head::classifier;

/// The feature map the auxiliary head reads (HF's `in_index`).
const IN_INDEX: usize = 2;

#[derive(Debug)]
pub struct FcnHead {
    convs: Vec<ConvModule>,
    conv_cat: Option<ConvModule>,
    classifier: ConvLayer,
}

impl FcnHead {
    pub fn new(cfg: &BeitConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let (inp, ch) = (cfg.hidden_size, cfg.auxiliary_channels);
        let convs = (0..cfg.auxiliary_num_convs)
            .map(|i| {
                ConvModule::new(
                    if i == 0 { inp } else { ch },
                    ch,
                    3,
                    1,
                    vb.pp(format!("convs.{i}")),
                )
            })
            .collect::<candle_core::Result<_>>()?;
        let conv_cat = if cfg.auxiliary_concat_input {
            Some(ConvModule::new(inp + ch, ch, 3, 1, vb.pp("conv_cat"))?)
        } else {
            None
        };
        Ok(Self {
            convs,
            conv_cat,
            classifier: classifier(ch, cfg.num_labels(), vb.pp("classifier"))?,
        })
    }

    pub fn forward(&self, features: &[Tensor]) -> candle_core::Result<Tensor> {
        let input = &features[IN_INDEX];
        let mut out = input.clone();
        for conv in &self.convs {
            out = conv.forward(&[&out])?;
        }
        if let Some(cat) = &self.conv_cat {
            out = cat.forward(&[input, &out])?;
        }
        self.classifier.forward(&[&out])
    }
}
