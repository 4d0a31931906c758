//! What every BEiT class runs before its own part: the pixel values checked and moved to the
//! model's device and dtype, the patch embeddings (masked for masked image modeling) and the
//! encoder. `BeitModel` adds its final LayerNorm and pooler on top, `BeitBackbone` picks stages,
//! the heads build on `BeitModel`; a new head (or a new family on BEiT's arithmetic) is only its
//! own part.

use candle_core::Device;
use candle_nn::VarBuilder;

use crate::config::BeitConfig;
use crate::error::Result;
use crate::model::embeddings::BeitEmbeddings;
use crate::model::encoder::{BeitEncoder, EncoderOutput};
use crate::model::pixel_values::{check_sequence, prepare_pixel_values};
use crate::output::ForwardInputs;

#[derive(Debug)]
pub struct Trunk {
    config: BeitConfig,
    embeddings: BeitEmbeddings,
    encoder: BeitEncoder,
    device: Device,
}

impl Trunk {
    /// Reads `embeddings.*` and `encoder.*` of `vb`.
    pub fn new(cfg: &BeitConfig, vb: &VarBuilder) -> Result<Self> {
        Ok(Self {
            config: cfg.clone(),
            embeddings: BeitEmbeddings::new(cfg, vb.pp("embeddings"))?,
            encoder: BeitEncoder::new(cfg, vb.pp("encoder"))?,
            device: vb.device().clone(),
        })
    }

    pub fn config(&self) -> &BeitConfig {
        &self.config
    }

    /// Where the weights live, and so where the pixels should be made (`preprocess_on`).
    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn encoder(&self) -> &BeitEncoder {
        &self.encoder
    }

    pub fn encoder_mut(&mut self) -> &mut BeitEncoder {
        &mut self.encoder
    }

    /// The encoder's output for `inputs` (every hidden state when `all_hidden_states` or the
    /// inputs ask for them) and the patch grid it ran on.
    pub fn encode(
        &self,
        inputs: &ForwardInputs,
        all_hidden_states: bool,
    ) -> Result<(EncoderOutput, (usize, usize))> {
        let pixels = prepare_pixel_values(
            &self.config,
            &inputs.pixel_values,
            &self.device,
            self.embeddings.dtype(),
        )?;
        check_sequence(&self.config, &pixels, inputs.output_attentions)?;
        let mask = match &inputs.bool_masked_pos {
            Some(m) => Some(m.to_device(&self.device)?),
            None => None,
        };
        let (embeddings, grid) = self.embeddings.forward(&pixels, mask.as_ref())?;
        let encoded = self.encoder.forward(
            &embeddings,
            grid,
            all_hidden_states || inputs.output_hidden_states,
            inputs.output_attentions,
        )?;
        Ok((encoded, grid))
    }
}
