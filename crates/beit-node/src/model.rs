//! `NativeModel`: one loaded model of any BEiT class, its forward pass and its disposal.

use std::sync::{Arc, RwLock};

use beit::batching::{BatchOptions, BatchQueue, Reply};
use beit::cpu::threads::ComputeThreads;
use beit::{BeitError, BeitPreTrainedModel, ForwardInputs};
use napi::bindgen_prelude::{AsyncTask, Object};
use napi::{Env, JsDeferred};
use napi_derive::napi;

use crate::error::{catch_panic, guard, to_js};
use crate::host_output::{HostOutput, NativeForwardOutput};
use crate::pixels::{NativePixels, PrepareTask};
use crate::processor::{to_sources, NativeImageInput, NativeImageProcessor};
use crate::tensor::{to_tensor, NativeTensorInput};

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

/// `{ waiting, batches, requests }` of a model's request queue.
#[napi(object)]
pub struct NativeQueueStats {
    pub waiting: f64,
    pub batches: f64,
    pub requests: f64,
}

/// A loaded model, shared by its inference thread and the calls that prepare its inputs.
pub type SharedModel = Arc<dyn BeitPreTrainedModel>;

/// A loaded model and the queue of its inference thread; `None` once disposed.
struct Loaded {
    model: SharedModel,
    queue: BatchQueue,
}

#[napi]
pub struct NativeModel {
    loaded: RwLock<Option<Loaded>>,
}

type Resolver = Box<dyn FnOnce(Env) -> napi::Result<NativeForwardOutput>>;

/// Settles a JS promise with a request's output, converted on the inference thread. The
/// conversion's panic rejects it with `E_INTERNAL`: a deferred dropped unsettled would leave the
/// promise pending for ever.
fn reply_to(deferred: JsDeferred<NativeForwardOutput, Resolver>) -> Reply {
    Box::new(move |output| {
        let host = catch_panic("copying a forward pass's outputs", || {
            output.and_then(|out| HostOutput::from_output(&out))
        });
        match host {
            Ok(host) => deferred.resolve(Box::new(move |_env| Ok(host.into_js()))),
            Err(err) => deferred.reject(to_js(err)),
        }
    })
}

impl NativeModel {
    /// Starts the model's inference thread.
    pub fn new(model: SharedModel, batching: BatchOptions, threads: ComputeThreads) -> napi::Result<Self> {
        let queue = BatchQueue::with_threads(model.clone(), batching, threads).map_err(to_js)?;
        Ok(Self {
            loaded: RwLock::new(Some(Loaded { model, queue })),
        })
    }

    /// Queues `inputs` for the inference thread; the promise settles with its output.
    fn submit<'env>(&self, env: &'env Env, id: f64, inputs: ForwardInputs) -> napi::Result<Object<'env>> {
        self.with_loaded(|loaded| {
            let (deferred, promise) = env.create_deferred::<NativeForwardOutput, Resolver>()?;
            // A refused request is rejected through its promise, like any other failure.
            loaded.queue.submit(id as u64, inputs, reply_to(deferred));
            Ok(promise)
        })
    }

    fn with_loaded<T>(&self, f: impl FnOnce(&Loaded) -> napi::Result<T>) -> napi::Result<T> {
        let guard = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(loaded) => f(loaded),
            None => Err(to_js(BeitError::InvalidArgument(
                "this model was disposed: load it again to use it".into(),
            ))),
        }
    }
}

#[napi]
impl NativeModel {
    /// The model's complete config as HF-style JSON.
    #[napi]
    pub fn config_json(&self) -> napi::Result<String> {
        self.with_loaded(|l| Ok(l.model.config().to_json_string()))
    }

    /// Queues a forward pass for the model's inference thread, where concurrent requests share
    /// batches. `id` names the request for `cancel`.
    #[napi(ts_return_type = "Promise<NativeForwardOutput>")]
    pub fn forward<'env>(
        &self,
        env: &'env Env,
        id: f64,
        inputs: NativeForwardInputs,
    ) -> napi::Result<Object<'env>> {
        let inputs = guard(|| ForwardInputs::try_from(&inputs))?;
        self.submit(env, id, inputs)
    }

    /// Decodes and processes images with `processor` off the JS thread, the pixels made where the
    /// model runs (on CUDA by the GPU kernels) and kept there for `forwardPrepared`.
    #[napi(ts_return_type = "Promise<NativePixels>")]
    pub fn prepare_images(
        &self,
        processor: &NativeImageProcessor,
        images: Vec<NativeImageInput>,
    ) -> napi::Result<AsyncTask<PrepareTask>> {
        let images = guard(|| to_sources(&images))?;
        self.with_loaded(|loaded| {
            Ok(AsyncTask::new(PrepareTask {
                processor: processor.processor(),
                images,
                device: loaded.model.device().clone(),
            }))
        })
    }

    /// `forward` of pixels from `prepareImages` (each batch once), queued like any other request.
    #[napi(ts_return_type = "Promise<NativeForwardOutput>")]
    pub fn forward_prepared<'env>(
        &self,
        env: &'env Env,
        id: f64,
        pixels: &NativePixels,
    ) -> napi::Result<Object<'env>> {
        let inputs = guard(|| Ok(ForwardInputs::new(pixels.take()?)))?;
        self.submit(env, id, inputs)
    }

    /// Withdraws a request that has not started (it rejects with `E_ABORTED`); false if it has.
    #[napi]
    pub fn cancel(&self, id: f64) -> bool {
        self.with_loaded(|l| Ok(l.queue.cancel(id as u64)))
            .unwrap_or(false)
    }

    /// What waits in the queue now, and what it has run (all zero once disposed).
    #[napi(getter)]
    pub fn queue_stats(&self) -> NativeQueueStats {
        let stats = self.with_loaded(|l| Ok(l.queue.stats())).unwrap_or_default();
        NativeQueueStats {
            waiting: stats.waiting as f64,
            batches: stats.batches as f64,
            requests: stats.requests as f64,
        }
    }

    /// Drops the model now: waiting requests fail, the weights are freed once a batch already
    /// running ends.
    #[napi]
    pub fn dispose(&self) {
        let loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(loaded) = loaded {
            loaded.queue.close();
        }
    }

    #[napi(getter)]
    pub fn disposed(&self) -> bool {
        self.loaded.read().map(|m| m.is_none()).unwrap_or(true)
    }
}
