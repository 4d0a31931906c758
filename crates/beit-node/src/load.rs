//! Loading a model: the two entry points JS calls, and the task they return, whose `compute` runs
//! on the libuv thread pool (panics caught) and whose `resolve` starts the model's inference thread.

use std::path::PathBuf;
use std::sync::Arc;

use beit::batching::BatchOptions;
use beit::cpu::threads::ComputeThreads;
use beit::{Architecture, BeitConfig, LoadOptions};
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::guard;
use crate::model::{NativeModel, SharedModel};
use crate::options::{batch_options, compute_threads, load_options, NativeLoadOptions};

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
    pub threads: ComputeThreads,
}

impl Task for LoadTask {
    type Output = SharedModel;
    type JsValue = NativeModel;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| {
            // Packing the weights is parallel too: on the model's threads.
            let model = self.threads.run(|| match &self.source {
                ModelSource::Pretrained(dir) => self.architecture.from_pretrained(dir, &self.options),
                ModelSource::Config(cfg) => self.architecture.from_config(cfg, &self.options),
            })?;
            Ok(Arc::from(model))
        })
    }

    fn resolve(&mut self, _env: Env, model: Self::Output) -> napi::Result<Self::JsValue> {
        NativeModel::new(model, self.batching.clone(), self.threads.clone())
    }
}

impl LoadTask {
    fn new(
        architecture: &str,
        source: impl FnOnce() -> beit::Result<ModelSource>,
        options: &Option<NativeLoadOptions>,
    ) -> napi::Result<AsyncTask<Self>> {
        guard(|| {
            let load = load_options(options)?;
            Ok(AsyncTask::new(Self {
                architecture: Architecture::parse(architecture)?,
                source: source()?,
                batching: batch_options(options, &load.device)?,
                threads: compute_threads(options)?,
                options: load,
            }))
        })
    }
}

/// Loads a model class (`BeitModel`, `BeitForImageClassification`) from a checkpoint directory.
#[napi(ts_return_type = "Promise<NativeModel>")]
pub fn load_model(
    architecture: String,
    dir: String,
    options: Option<NativeLoadOptions>,
) -> napi::Result<AsyncTask<LoadTask>> {
    LoadTask::new(
        &architecture,
        || Ok(ModelSource::Pretrained(PathBuf::from(dir))),
        &options,
    )
}

/// Builds a model class with random weights from a config in JSON.
#[napi(ts_return_type = "Promise<NativeModel>")]
pub fn model_from_config(
    architecture: String,
    config_json: String,
    options: Option<NativeLoadOptions>,
) -> napi::Result<AsyncTask<LoadTask>> {
    let config = || {
        Ok(ModelSource::Config(Box::new(BeitConfig::from_json_str(
            &config_json,
        )?)))
    };
    LoadTask::new(&architecture, config, &options)
}
