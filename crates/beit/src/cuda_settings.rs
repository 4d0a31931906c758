//! The CUDA forward's settings (`BEIT_CUDA_*`): whether it uses our fused kernels or candle's plain
//! CUDA ops, which attention kernel and GEMM. Outside the `cuda` feature, so that the device-neutral
//! ops can ask before they reach for CUDA.
//!
//! Our kernels and candle's ops give the same numbers within each dtype's tolerance; the plain path is slower but built
//! only from candle's tested ops, so a bug in one of our kernels can always be worked around
//! (`BEIT_CUDA_KERNELS=0`), and the GPU check compares the two in one process (`set_enabled`).

use std::sync::atomic::{AtomicU8, Ordering};

/// A process-wide setting stored as a non-zero byte: set by the program, or else read once from
/// its environment variable (by `parse`) on first use.
struct Setting {
    state: AtomicU8,
    env: &'static str,
    parse: fn(Option<&str>) -> u8,
}

impl Setting {
    const UNSET: u8 = 0;

    const fn new(env: &'static str, parse: fn(Option<&str>) -> u8) -> Self {
        Self {
            state: AtomicU8::new(Self::UNSET),
            env,
            parse,
        }
    }

    fn get(&self) -> u8 {
        match self.state.load(Ordering::Relaxed) {
            Self::UNSET => {
                let value = (self.parse)(std::env::var(self.env).ok().as_deref());
                // A concurrent `set` wins over the environment.
                let _ = self
                    .state
                    .compare_exchange(Self::UNSET, value, Ordering::Relaxed, Ordering::Relaxed);
                self.state.load(Ordering::Relaxed)
            }
            value => value,
        }
    }

    fn set(&self, value: u8) {
        self.state.store(value, Ordering::Relaxed);
    }
}

const ON: u8 = 1;
const OFF: u8 = 2;

/// The environment variable that turns the fused kernels off (`0`, `off`, `false`, `no`).
pub const ENV: &str = "BEIT_CUDA_KERNELS";

static KERNELS: Setting = Setting::new(ENV, |v| if from_env(v) { ON } else { OFF });

/// True unless switched off, by `set_enabled(false)` or the environment.
pub fn enabled() -> bool {
    KERNELS.get() == ON
}

/// Turns the fused CUDA kernels on or off for the whole process, from the next op on.
pub fn set_enabled(on: bool) {
    KERNELS.set(if on { ON } else { OFF });
}

/// The environment variable that picks the fused attention's kernel in f16 and bf16: `flash`
/// (the default), `wmma` or `simt` (see `AttentionKernel`).
pub const ATTENTION_ENV: &str = "BEIT_CUDA_ATTENTION";

/// The fused attention's CUDA kernels, fastest first; each call takes the first that fits its dtype
/// and head size, from the one chosen on down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttentionKernel {
    /// Registers-only tensor-core kernel (kernels/attention_flash.cuh): f16/bf16, head size 32, 64, 128.
    Flash = 1,
    /// wmma tensor-core kernel (kernels/attention_mma.cuh): f16/bf16, head sizes of 16k.
    Wmma = 2,
    /// Scalar f32 FMAs (kernels/attention_tiles.cuh): any dtype and head size up to 128.
    Simt = 3,
}

static ATTENTION: Setting = Setting::new(ATTENTION_ENV, |v| AttentionKernel::from_env(v) as u8);

impl AttentionKernel {
    fn from_u8(v: u8) -> Self {
        match v {
            2 => Self::Wmma,
            3 => Self::Simt,
            _ => Self::Flash,
        }
    }

    fn from_env(value: Option<&str>) -> Self {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            Some("wmma") => Self::Wmma,
            Some("simt") => Self::Simt,
            _ => Self::Flash,
        }
    }
}

/// The attention kernel chosen: by `set_attention_kernel`, else the environment, else `Flash`.
pub fn attention_kernel() -> AttentionKernel {
    AttentionKernel::from_u8(ATTENTION.get())
}

/// Chooses the attention kernel for the whole process, from the next call on.
pub fn set_attention_kernel(kernel: AttentionKernel) {
    ATTENTION.set(kernel as u8);
}

/// The environment variable that picks the linear layers' GEMM on CUDA when the fused kernels are
/// on: `cublaslt` (the default: bias and residual added in the GEMM's epilogue, `cuda::gemm`) or
/// `cublas` (candle's matmul followed by our epilogue pass).
pub const GEMM_ENV: &str = "BEIT_CUDA_GEMM";

/// The setting that turns cuBLASLt off, for messages.
pub const GEMM_ENV_CUBLAS: &str = "BEIT_CUDA_GEMM=cublas";

static GEMM_LT: Setting = Setting::new(GEMM_ENV, |v| if gemm_lt_from_env(v) { ON } else { OFF });

/// True unless `cublas` was chosen, by `set_gemm_lt(false)` or the environment.
pub fn gemm_lt() -> bool {
    GEMM_LT.get() == ON
}

/// Chooses cuBLASLt (true) or candle's cuBLAS matmul for the linear layers, from the next call on.
pub fn set_gemm_lt(on: bool) {
    GEMM_LT.set(if on { ON } else { OFF });
}

fn gemm_lt_from_env(value: Option<&str>) -> bool {
    value.map(|v| v.trim().to_ascii_lowercase()).as_deref() != Some("cublas")
}

/// The environment variable that picks the flash attention kernel's block: `8` warps (128 query
/// rows, the default) or `4` (64 rows). BEiT-base's 197 tokens then take 2 blocks an image and head
/// rather than 4 (the last of which had 5 rows to compute and every key to load): K and V are read
/// half as often; 7% faster on an H200 at batch 64, 10% at batch 8.
pub const FLASH_WARPS_ENV: &str = "BEIT_CUDA_FLASH_WARPS";

static FLASH_WARPS: Setting = Setting::new(FLASH_WARPS_ENV, flash_warps_from_env);

/// Warps a block of the flash attention kernel: 4 or 8.
pub fn flash_warps() -> usize {
    FLASH_WARPS.get() as usize
}

/// Sets the flash attention kernel's warps a block (4 or 8; anything else is 8), from the next call on.
pub fn set_flash_warps(warps: usize) {
    FLASH_WARPS.set(if warps == 4 { 4 } else { 8 });
}

fn flash_warps_from_env(value: Option<&str>) -> u8 {
    match value.map(str::trim) {
        Some("4") => 4,
        _ => 8,
    }
}

fn from_env(value: Option<&str>) -> bool {
    !matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("0" | "off" | "false" | "no")
    )
}

#[cfg(test)]
mod tests {
    use super::{flash_warps_from_env, from_env, gemm_lt_from_env, AttentionKernel};

    #[test]
    fn environment_values() {
        assert!(from_env(None));
        assert!(from_env(Some("1")));
        assert!(from_env(Some("on")));
        for off in ["0", "off", "OFF", " false ", "no"] {
            assert!(!from_env(Some(off)), "{off:?}");
        }
    }

    #[test]
    fn flash_warps_values() {
        assert_eq!(flash_warps_from_env(None), 8);
        assert_eq!(flash_warps_from_env(Some(" 4 ")), 4);
        assert_eq!(flash_warps_from_env(Some("16")), 8);
    }

    #[test]
    fn gemm_values() {
        assert!(gemm_lt_from_env(None));
        assert!(gemm_lt_from_env(Some("cublaslt")));
        assert!(!gemm_lt_from_env(Some(" CUBLAS ")));
    }

    #[test]
    fn attention_kernel_values() {
        assert_eq!(AttentionKernel::from_env(None), AttentionKernel::Flash);
        assert_eq!(AttentionKernel::from_env(Some("flash")), AttentionKernel::Flash);
        assert_eq!(AttentionKernel::from_env(Some(" WMMA ")), AttentionKernel::Wmma);
        assert_eq!(AttentionKernel::from_env(Some("simt")), AttentionKernel::Simt);
        for k in [
            AttentionKernel::Flash,
            AttentionKernel::Wmma,
            AttentionKernel::Simt,
        ] {
            assert_eq!(AttentionKernel::from_u8(k as u8), k);
        }
    }
}
