//! Which requests may share a forward pass, joining their inputs into one batch, and cutting the
//! batch's outputs back into each request's rows. Every output of a BEiT model is per image along
//! dim 0, so rows of a joined batch are the rows each request would have got alone.

use candle_core::Tensor;

use crate::error::Result;
use crate::output::{ForwardInputs, ModelOutput};

/// What must be equal for two requests to run in one batch. The device too: on CUDA `forward`'s
/// pixels come from JS on the CPU while `classify`'s were made on the GPU, and candle joins
/// tensors of one device only.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchKey {
    image_dims: Vec<usize>,
    dtype: candle_core::DType,
    device: candle_core::DeviceLocation,
    output_hidden_states: bool,
    output_attentions: bool,
}

/// The key of a request that may join others, or `None` for one that runs alone: a loss over
/// labels, or a mask, belongs to the whole batch it was computed on.
pub fn batch_key(inputs: &ForwardInputs) -> Option<BatchKey> {
    if inputs.labels.is_some() || inputs.bool_masked_pos.is_some() {
        return None;
    }
    let dims = inputs.pixel_values.dims();
    Some(BatchKey {
        image_dims: dims.get(1..)?.to_vec(),
        dtype: inputs.pixel_values.dtype(),
        device: inputs.pixel_values.device().location(),
        output_hidden_states: inputs.output_hidden_states,
        output_attentions: inputs.output_attentions,
    })
}

/// Images in a request (its batch dimension).
pub fn images_in(inputs: &ForwardInputs) -> usize {
    inputs.pixel_values.dims().first().copied().unwrap_or(0)
}

/// One forward input holding every request's images, in order.
pub fn join(requests: &[&ForwardInputs]) -> Result<ForwardInputs> {
    let pixels: Vec<&Tensor> = requests.iter().map(|r| &r.pixel_values).collect();
    let first = requests[0];
    Ok(ForwardInputs {
        pixel_values: Tensor::cat(&pixels, 0)?,
        ..first.clone()
    })
}

/// The batch's output cut into consecutive slices of `sizes` images.
pub fn split(output: &ModelOutput, sizes: &[usize]) -> Result<Vec<ModelOutput>> {
    let mut parts = Vec::with_capacity(sizes.len());
    let mut start = 0;
    for &size in sizes {
        let rows = |t: &Tensor| t.narrow(0, start, size);
        let one = |t: &Option<Tensor>| t.as_ref().map(rows).transpose();
        let many = |ts: &Option<Vec<Tensor>>| {
            ts.as_ref()
                .map(|ts| ts.iter().map(rows).collect::<candle_core::Result<Vec<_>>>())
                .transpose()
        };
        parts.push(ModelOutput {
            loss: None,
            logits: one(&output.logits)?,
            last_hidden_state: one(&output.last_hidden_state)?,
            pooler_output: one(&output.pooler_output)?,
            hidden_states: many(&output.hidden_states)?,
            attentions: many(&output.attentions)?,
            feature_maps: many(&output.feature_maps)?,
            predicted_depth: one(&output.predicted_depth)?,
        });
        start += size;
    }
    Ok(parts)
}
