//! `NativeModel`: one loaded model of any BEiT class, its forward pass and its disposal.

use std::path::PathBuf;
use std::sync::RwLock;

use beit::{Architecture, BeitConfig, BeitError, ForwardInputs};
use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::error::{guard, to_js};
use crate::options::{load_options, NativeLoadOptions};
use crate::tasks::{ForwardTask, LoadTask, ModelSource, SharedModel};
use crate::tensor::{to_tensor, NativeTensor, NativeTensorInput};

/// The arguments of `forward`, as JS passes them.
#[napi(object)]
pub struct NativeForwardInputs {
    pub pixel_values: NativeTensorInput,
    pub bool_masked_pos: Option<NativeTensorInput>,
    pub labels: Option<NativeTensorInput>,
    pub interpolate_pos_encoding: Option<bool>,
    pub output_hidden_states: Option<bool>,
    pub output_attentions: Option<bool>,
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
}

impl TryFrom<&NativeForwardInputs> for ForwardInputs {
    type Error = BeitError;

    fn try_from(js: &NativeForwardInputs) -> beit::Result<Self> {
        let optional =
            |t: &Option<NativeTensorInput>, name: &str| t.as_ref().map(|t| to_tensor(t, name)).transpose();
        Ok(ForwardInputs {
            pixel_values: to_tensor(&js.pixel_values, "pixelValues")?,
            bool_masked_pos: optional(&js.bool_masked_pos, "boolMaskedPos")?,
            labels: optional(&js.labels, "labels")?,
            interpolate_pos_encoding: js.interpolate_pos_encoding.unwrap_or(false),
            output_hidden_states: js.output_hidden_states.unwrap_or(false),
            output_attentions: js.output_attentions.unwrap_or(false),
        })
    }
}

#[napi]
pub struct NativeModel {
    model: RwLock<Option<SharedModel>>,
}

impl NativeModel {
    pub fn new(model: SharedModel) -> Self {
        Self {
            model: RwLock::new(Some(model)),
        }
    }

    fn current(&self) -> napi::Result<SharedModel> {
        let guard = self.model.read().unwrap_or_else(|e| e.into_inner());
        guard.clone().ok_or_else(|| {
            to_js(BeitError::InvalidArgument(
                "this model was disposed: load it again to use it".into(),
            ))
        })
    }
}

#[napi]
impl NativeModel {
    /// The model's complete config as HF-style JSON.
    #[napi]
    pub fn config_json(&self) -> napi::Result<String> {
        Ok(self.current()?.config().to_json_string())
    }

    /// Runs the model on the libuv thread pool.
    #[napi(ts_return_type = "Promise<NativeForwardOutput>")]
    pub fn forward(&self, inputs: NativeForwardInputs) -> napi::Result<AsyncTask<ForwardTask>> {
        let model = self.current()?;
        let inputs = guard(|| ForwardInputs::try_from(&inputs))?;
        Ok(AsyncTask::new(ForwardTask { model, inputs }))
    }

    /// Drops the model's weights now (a forward already running keeps them until it ends).
    #[napi]
    pub fn dispose(&self) {
        let mut guard = self.model.write().unwrap_or_else(|e| e.into_inner());
        *guard = None;
    }

    #[napi(getter)]
    pub fn disposed(&self) -> bool {
        self.model.read().map(|m| m.is_none()).unwrap_or(true)
    }
}

/// Loads a model class (`BeitModel`, `BeitForImageClassification`) from a checkpoint directory.
#[napi(ts_return_type = "Promise<NativeModel>")]
pub fn load_model(
    architecture: String,
    dir: String,
    options: Option<NativeLoadOptions>,
) -> napi::Result<AsyncTask<LoadTask>> {
    guard(|| {
        Ok(AsyncTask::new(LoadTask {
            architecture: Architecture::parse(&architecture)?,
            source: ModelSource::Pretrained(PathBuf::from(dir)),
            options: load_options(options)?,
        }))
    })
}

/// Builds a model class with random weights from a config in JSON.
#[napi(ts_return_type = "Promise<NativeModel>")]
pub fn model_from_config(
    architecture: String,
    config_json: String,
    options: Option<NativeLoadOptions>,
) -> napi::Result<AsyncTask<LoadTask>> {
    guard(|| {
        Ok(AsyncTask::new(LoadTask {
            architecture: Architecture::parse(&architecture)?,
            source: ModelSource::Config(Box::new(BeitConfig::from_json_str(&config_json)?)),
            options: load_options(options)?,
        }))
    })
}
