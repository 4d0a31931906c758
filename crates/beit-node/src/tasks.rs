//! Loading a model: `compute` runs on the libuv thread pool (panics caught), `resolve` starts the
//! model's inference thread.

use std::path::PathBuf;
use std::sync::Arc;

use beit::batching::BatchOptions;
use beit::{Architecture, BeitConfig, BeitPreTrainedModel, LoadOptions};
use napi::{Env, Task};

use crate::error::guard;
use crate::model::NativeModel;

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
    pub batching: BatchOptions,
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
        NativeModel::new(model, self.batching.clone())
    }
}
