//! Device and dtype names as users write them (`cpu`, `cuda`, `cuda:1`; `float32`, `float16`,
//! `bfloat16`, and `q8` for the int8 path), resolved to candle's types. Every model constructor takes
//! both, so nothing in the crate assumes the CPU.

use candle_core::{DType, Device};

use crate::error::{BeitError, Result};
use crate::precision::Quantization;

/// Resolves `cpu`, `cuda` or `cuda:N` to a device.
pub fn parse_device(name: &str) -> Result<Device> {
    let name = name.trim().to_ascii_lowercase();
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = match name.strip_prefix("cuda") {
        Some("") => 0,
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| bad_device(&name))?,
        None => return Err(bad_device(&name)),
    };
    if !cuda_build() {
        return Err(BeitError::CudaUnavailable(format!(
            "device {name:?} was requested, but this build of beit-node has no CUDA support: \
             install the CUDA build (npm install beit-node-linux-x64-gnu-cuda, Linux x64 with an \
             NVIDIA driver 580 or newer), or use device 'cpu'"
        )));
    }
    let visible = cuda_devices();
    if ordinal >= visible {
        return Err(BeitError::CudaUnavailable(format!(
            "device {name:?} was requested, but {}: use {}",
            match visible {
                0 => "no CUDA GPU is visible (no NVIDIA driver, or CUDA_VISIBLE_DEVICES hides them all)"
                    .to_string(),
                n => format!("this machine has {n} CUDA device(s)"),
            },
            match visible {
                0 => "device 'cpu'".to_string(),
                1 => "'cuda' (cuda:0) or 'cpu'".to_string(),
                n => format!("cuda:0 to cuda:{}, or 'cpu'", n - 1),
            }
        )));
    }
    let device = Device::new_cuda(ordinal).map_err(|e| {
        BeitError::CudaUnavailable(format!(
            "cannot open CUDA device {ordinal}: {}",
            crate::gpu_failure::with_advice(&e)
        ))
    })?;
    tune_allocations(&device);
    Ok(device)
}

/// cudarc gives every allocation a pair of CUDA events by default, which it waits on only when a
/// context runs several streams; candle's device runs one, so the events are pure host cost: two
/// creations and destructions per tensor, a hundred tensors a BEiT forward. And freed memory stays
/// in the device's pool (`cuda::devices::keep_freed_memory`).
fn tune_allocations(device: &Device) {
    #[cfg(feature = "cuda")]
    if let Device::Cuda(cuda) = device {
        // SAFETY: nothing in beit creates a second stream on the device's context, so no use of a
        // tensor has to be ordered by events across streams.
        unsafe { cuda.disable_event_tracking() };
        // Only speed is at stake: a device without memory pools (cudarc then allocates
        // synchronously) is left as it is.
        let _ = crate::cuda::devices::keep_freed_memory(cuda);
    }
    #[cfg(not(feature = "cuda"))]
    let _ = device;
}

fn bad_device(name: &str) -> BeitError {
    BeitError::InvalidArgument(format!("unknown device {name:?}: use 'cpu', 'cuda' or 'cuda:N'"))
}

/// Resolves `float32`, `float16` or `bfloat16` (and the short forms `f32`, `fp16`, ...).
/// Resolves a precision name: a dtype, or `q8` (int8 weights and activations in the encoder's
/// linear layers, f32 elsewhere; CPU only).
pub fn parse_precision(name: &str) -> Result<(DType, Option<Quantization>)> {
    match name.trim().to_ascii_lowercase().as_str() {
        "q8" | "int8" => Ok((DType::F32, Some(Quantization::Int8))),
        _ => match parse_dtype(name) {
            Ok(dtype) => Ok((dtype, None)),
            Err(_) => Err(BeitError::InvalidArgument(format!(
                "unknown dtype {name:?}: use 'float32', 'float16', 'bfloat16' or 'q8'"
            ))),
        },
    }
}

pub fn parse_dtype(name: &str) -> Result<DType> {
    match name.trim().to_ascii_lowercase().as_str() {
        "float32" | "f32" | "fp32" => Ok(DType::F32),
        "float16" | "f16" | "fp16" | "half" => Ok(DType::F16),
        "bfloat16" | "bf16" => Ok(DType::BF16),
        other => Err(BeitError::InvalidArgument(format!(
            "unknown dtype {other:?}: use 'float32', 'float16' or 'bfloat16'"
        ))),
    }
}

/// Whether this build of the crate has the CUDA backend (the `cuda` feature).
pub fn cuda_build() -> bool {
    cfg!(feature = "cuda")
}

/// The CUDA devices visible to this process: 0 without the CUDA backend, a driver or a GPU.
pub fn cuda_devices() -> usize {
    #[cfg(feature = "cuda")]
    {
        crate::cuda::devices::count()
    }
    #[cfg(not(feature = "cuda"))]
    {
        0
    }
}
