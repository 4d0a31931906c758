//! The fat binaries of our kernels, loaded once per device and op family.
//!
//! candle's own module cache takes PTX text only; ours are fat binaries (sm_90 SASS and
//! compute_80 PTX), which the driver loads from the same call, picking the SASS where it fits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use candle_core::cuda_backend::{CudaDevice, WrapErr};
use candle_core::DType;
use cudarc::driver::{CudaFunction, CudaModule};
use cudarc::nvrtc::Ptx;

/// An op family: one `kernels/<name>.cu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Attention,
    LayerNorm,
    Epilogue,
    Preprocess,
}

impl Family {
    fn image(self) -> &'static [u8] {
        match self {
            Family::Attention => include_bytes!(concat!(env!("OUT_DIR"), "/attention.fatbin")),
            Family::LayerNorm => include_bytes!(concat!(env!("OUT_DIR"), "/layer_norm.fatbin")),
            Family::Epilogue => include_bytes!(concat!(env!("OUT_DIR"), "/epilogue.fatbin")),
            Family::Preprocess => include_bytes!(concat!(env!("OUT_DIR"), "/preprocess.fatbin")),
        }
    }
}

/// By GPU ordinal: every candle device of one GPU shares its primary context, where a module loaded
/// once serves them all (keyed by candle's device, each model load added a copy that outlived it).
type Modules = Mutex<HashMap<(usize, Family), Arc<CudaModule>>>;

fn modules() -> &'static Modules {
    static MODULES: OnceLock<Modules> = OnceLock::new();
    MODULES.get_or_init(Default::default)
}

/// The kernel `name` of `family` on `dev`, loading the family's module on first use.
pub fn function(dev: &CudaDevice, family: Family, name: &str) -> candle_core::Result<CudaFunction> {
    let module = {
        let mut modules = modules().lock().unwrap_or_else(|e| e.into_inner());
        let context = dev.cuda_stream().context().clone();
        let key = (context.ordinal(), family);
        match modules.get(&key) {
            Some(module) => module.clone(),
            None => {
                let module = context
                    .load_module(Ptx::from_binary(family.image().to_vec()))
                    .w()?;
                modules.insert(key, module.clone());
                module
            }
        }
    };
    module.load_function(name).w()
}

/// `name` followed by the kernel suffix of `dtype` (`_f32`, `_f16`, `_bf16`).
pub fn typed(name: &str, dtype: DType) -> candle_core::Result<String> {
    let suffix = match dtype {
        DType::F32 => "f32",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        other => candle_core::bail!("{name}: no CUDA kernel for {other:?}"),
    };
    Ok(format!("{name}_{suffix}"))
}
