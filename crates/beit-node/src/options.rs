//! Option objects from JS, with their defaults applied in one place.

use std::time::Duration;

use beit::batching::BatchOptions;
use beit::cpu::threads::ComputeThreads;
use beit::{parse_device, parse_precision, BeitError, LoadOptions};
use napi_derive::napi;

/// `{ maxBatchSize?, maxWaitMs?, maxQueue? }`: how a model's request queue batches.
#[napi(object)]
pub struct NativeBatchOptions {
    pub max_batch_size: Option<u32>,
    pub max_wait_ms: Option<f64>,
    pub max_queue: Option<u32>,
}

/// `{ device?, dtype?, batching?, threads? }` of `fromPretrained` / `fromConfig`.
#[napi(object)]
pub struct NativeLoadOptions {
    pub device: Option<String>,
    pub dtype: Option<String>,
    pub batching: Option<NativeBatchOptions>,
    pub threads: Option<u32>,
}

/// Resolves the options JS passed (any of them may be absent) to the crate's `LoadOptions`.
pub fn load_options(options: &Option<NativeLoadOptions>) -> beit::Result<LoadOptions> {
    let (device, dtype) = match options {
        Some(o) => (o.device.as_deref(), o.dtype.as_deref()),
        None => (None, None),
    };
    let (dtype, quantization) = parse_precision(dtype.unwrap_or("float32"))?;
    Ok(LoadOptions {
        device: parse_device(device.unwrap_or("cpu"))?,
        dtype,
        quantization,
    })
}

/// The model's compute threads: a pool of its own where `threads` is given, else the shared one.
pub fn compute_threads(options: &Option<NativeLoadOptions>) -> beit::Result<ComputeThreads> {
    ComputeThreads::new(options.as_ref().and_then(|o| o.threads).map(|n| n as usize))
}

/// The batching options, the defaults for `device` filled in, checked.
pub fn batch_options(
    options: &Option<NativeLoadOptions>,
    device: &beit::Device,
) -> beit::Result<BatchOptions> {
    let defaults = BatchOptions::for_device(device);
    let Some(given) = options.as_ref().and_then(|o| o.batching.as_ref()) else {
        return Ok(defaults);
    };
    let max_wait = match given.max_wait_ms {
        Some(ms) if !(ms.is_finite() && ms >= 0.0) => {
            return Err(BeitError::InvalidArgument(format!(
                "maxWaitMs must be a number of milliseconds >= 0, got {ms}"
            )))
        }
        Some(ms) => Duration::from_secs_f64(ms.min(1e7) / 1000.0),
        None => defaults.max_wait,
    };
    let options = BatchOptions {
        max_batch_size: given
            .max_batch_size
            .map_or(defaults.max_batch_size, |n| n as usize),
        max_wait,
        max_queue: given.max_queue.map_or(defaults.max_queue, |n| n as usize),
    };
    options.validate()?;
    Ok(options)
}
