//! A forward pass's outputs copied to host f32 buffers off the JS thread, then handed to JS
//! without another copy.

use beit::ModelOutput;
use napi_derive::napi;

use crate::tensor::{HostTensor, NativeTensor};

/// Every output of one forward call, copied to host f32 buffers.
#[derive(Default)]
pub struct HostOutput {
    pub loss: Option<HostTensor>,
    pub logits: Option<HostTensor>,
    pub last_hidden_state: Option<HostTensor>,
    pub pooler_output: Option<HostTensor>,
    pub hidden_states: Option<Vec<HostTensor>>,
    pub attentions: Option<Vec<HostTensor>>,
    pub feature_maps: Option<Vec<HostTensor>>,
    pub predicted_depth: Option<HostTensor>,
}

fn host(t: &Option<beit::Tensor>) -> beit::Result<Option<HostTensor>> {
    t.as_ref().map(HostTensor::from_tensor).transpose()
}

fn host_list(ts: &Option<Vec<beit::Tensor>>) -> beit::Result<Option<Vec<HostTensor>>> {
    ts.as_ref()
        .map(|ts| ts.iter().map(HostTensor::from_tensor).collect())
        .transpose()
}

impl HostOutput {
    pub fn from_output(out: &ModelOutput) -> beit::Result<Self> {
        Ok(Self {
            loss: host(&out.loss)?,
            logits: host(&out.logits)?,
            last_hidden_state: host(&out.last_hidden_state)?,
            pooler_output: host(&out.pooler_output)?,
            hidden_states: host_list(&out.hidden_states)?,
            attentions: host_list(&out.attentions)?,
            feature_maps: host_list(&out.feature_maps)?,
            predicted_depth: host(&out.predicted_depth)?,
        })
    }

    pub fn into_js(self) -> NativeForwardOutput {
        let list =
            |ts: Option<Vec<HostTensor>>| ts.map(|ts| ts.into_iter().map(HostTensor::into_js).collect());
        NativeForwardOutput {
            loss: self.loss.map(HostTensor::into_js),
            logits: self.logits.map(HostTensor::into_js),
            last_hidden_state: self.last_hidden_state.map(HostTensor::into_js),
            pooler_output: self.pooler_output.map(HostTensor::into_js),
            hidden_states: list(self.hidden_states),
            attentions: list(self.attentions),
            feature_maps: list(self.feature_maps),
            predicted_depth: self.predicted_depth.map(HostTensor::into_js),
        }
    }
}

/// Every output of `forward`; absent fields are the ones this model class does not produce.
#[napi(object)]
pub struct NativeForwardOutput {
    pub loss: Option<NativeTensor>,
    pub logits: Option<NativeTensor>,
    pub last_hidden_state: Option<NativeTensor>,
    pub pooler_output: Option<NativeTensor>,
    pub hidden_states: Option<Vec<NativeTensor>>,
    pub attentions: Option<Vec<NativeTensor>>,
    pub feature_maps: Option<Vec<NativeTensor>>,
    pub predicted_depth: Option<NativeTensor>,
}
