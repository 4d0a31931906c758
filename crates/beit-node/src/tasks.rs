//! The async tasks: `compute` runs on the libuv thread pool (panics caught), `resolve` only
//! builds JS values.

use std::path::PathBuf;
use std::sync::Arc;

use beit::{Architecture, BeitConfig, BeitPreTrainedModel, ForwardInputs, LoadOptions, ModelOutput};
use napi::{Env, Task};

use crate::error::guard;
use crate::model::{NativeForwardOutput, NativeModel};
use crate::tensor::HostTensor;

pub type SharedModel = Arc<dyn BeitPreTrainedModel>;

/// Where a model comes from.
pub enum ModelSource {
    Pretrained(PathBuf),
    Config(Box<BeitConfig>),
}

pub struct LoadTask {
    pub architecture: Architecture,
    pub source: ModelSource,
    pub options: LoadOptions,
}

impl Task for LoadTask {
    type Output = SharedModel;
    type JsValue = NativeModel;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| {
            let model = match &self.source {
                ModelSource::Pretrained(dir) => self.architecture.from_pretrained(dir, &self.options)?,
                ModelSource::Config(cfg) => self.architecture.from_config(cfg, &self.options)?,
            };
            Ok(Arc::from(model))
        })
    }

    fn resolve(&mut self, _env: Env, model: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(NativeModel::new(model))
    }
}

pub struct ForwardTask {
    pub model: SharedModel,
    pub inputs: ForwardInputs,
}

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
    fn from_output(out: &ModelOutput) -> beit::Result<Self> {
        Ok(Self {
            loss: host(&out.loss)?,
            logits: host(&out.logits)?,
            last_hidden_state: host(&out.last_hidden_state)?,
            pooler_output: host(&out.pooler_output)?,
            hidden_states: host_list(&out.hidden_states)?,
            attentions: host_list(&out.attentions)?,
            feature_maps: host_list(&out.feature_maps)?,
        })
    }
}

impl Task for ForwardTask {
    type Output = HostOutput;
    type JsValue = NativeForwardOutput;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| HostOutput::from_output(&self.model.forward(&self.inputs)?))
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> napi::Result<Self::JsValue> {
        let list =
            |ts: Option<Vec<HostTensor>>| ts.map(|ts| ts.into_iter().map(HostTensor::into_js).collect());
        Ok(NativeForwardOutput {
            loss: out.loss.map(HostTensor::into_js),
            logits: out.logits.map(HostTensor::into_js),
            last_hidden_state: out.last_hidden_state.map(HostTensor::into_js),
            pooler_output: out.pooler_output.map(HostTensor::into_js),
            hidden_states: list(out.hidden_states),
            attentions: list(out.attentions),
            feature_maps: list(out.feature_maps),
        })
    }
}
