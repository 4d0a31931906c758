//! What goes into and comes out of every model's `forward`: the union of HF's `pixel_values`,
//! `bool_masked_pos`, `labels`, flags, and of its output classes (`BeitModelOutputWithPooling`,
//! `ImageClassifierOutput`, `MaskedLMOutput`, `SemanticSegmenterOutput`, `BackboneOutput`, `DepthEstimatorOutput`).

use candle_core::Tensor;

/// The arguments of `forward`, as in HF.
#[derive(Debug, Clone)]
pub struct ForwardInputs {
    /// `[B, C, H, W]` float pixels.
    pub pixel_values: Tensor,
    /// `[B, num_patches]` u8, nonzero where a patch is replaced by the mask token.
    pub bool_masked_pos: Option<Tensor>,
    /// Class ids (integer) or targets (float) for the loss.
    pub labels: Option<Tensor>,
    /// Accepted for HF compatibility: position encodings are resampled for any input size anyway.
    pub interpolate_pos_encoding: bool,
    pub output_hidden_states: bool,
    pub output_attentions: bool,
}

impl ForwardInputs {
    /// Inputs with only `pixel_values` set.
    pub fn new(pixel_values: Tensor) -> Self {
        Self {
            pixel_values,
            bool_masked_pos: None,
            labels: None,
            interpolate_pos_encoding: false,
            output_hidden_states: false,
            output_attentions: false,
        }
    }
}

/// Every output a BEiT model can produce; each head fills the fields HF's output class has.
#[derive(Debug, Clone, Default)]
pub struct ModelOutput {
    pub loss: Option<Tensor>,
    pub logits: Option<Tensor>,
    pub last_hidden_state: Option<Tensor>,
    pub pooler_output: Option<Tensor>,
    pub hidden_states: Option<Vec<Tensor>>,
    pub attentions: Option<Vec<Tensor>>,
    pub feature_maps: Option<Vec<Tensor>>,
    /// `[B, H, W]` depth (`DepthEstimatorOutput`).
    pub predicted_depth: Option<Tensor>,
}
