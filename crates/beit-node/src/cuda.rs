//! Whether this binary is the CUDA build, and the GPUs it sees: for the JS loader's choice and
//! its messages.

use napi_derive::napi;

/// True in the CUDA build of the addon (npm/linux-x64-gnu-cuda).
#[napi]
pub fn cuda_build() -> bool {
    beit::cuda_build()
}

/// The CUDA devices visible; 0 without the CUDA build, a driver or a GPU. Never throws.
#[napi]
pub fn cuda_devices() -> u32 {
    beit::cuda_devices().min(u32::MAX as usize) as u32
}
