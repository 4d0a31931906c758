//! Device and dtype names as users write them (`cpu`, `cuda`, `cuda:1`; `float32`, `float16`,
//! `bfloat16`, and `q8` for the int8 path), resolved to candle's types. Every model constructor takes
//! both, so nothing in the crate assumes the CPU.

use candle_core::{DType, Device};

use crate::error::{BeitError, Result};
use crate::pretrained::Quantization;

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
    if !candle_core::utils::cuda_is_available() {
        return Err(BeitError::CudaUnavailable(format!(
            "device {name:?} was requested, but this build of beit-node has no CUDA support \
             or no CUDA GPU is visible: use device 'cpu'"
        )));
    }
    Device::new_cuda(ordinal)
        .map_err(|e| BeitError::CudaUnavailable(format!("cannot open CUDA device {ordinal}: {e}")))
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
