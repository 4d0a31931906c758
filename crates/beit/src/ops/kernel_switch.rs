//! Whether the CUDA forward uses our fused kernels or candle's plain CUDA ops.
//!
//! Both give the same numbers within each dtype's tolerance; the plain path is slower but built
//! only from candle's tested ops, so a bug in one of our kernels can always be worked around
//! (`BEIT_CUDA_KERNELS=0`), and the GPU check compares the two in one process (`set_enabled`).

use std::sync::atomic::{AtomicU8, Ordering};

const UNSET: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

/// An on/off setting for the whole process, read from its environment variable on first use
/// unless set before.
struct Switch {
    state: AtomicU8,
    env: &'static str,
}

impl Switch {
    const fn new(env: &'static str) -> Self {
        Self {
            state: AtomicU8::new(UNSET),
            env,
        }
    }

    fn enabled(&self) -> bool {
        match self.state.load(Ordering::Relaxed) {
            ON => true,
            OFF => false,
            _ => {
                let on = from_env(std::env::var(self.env).ok().as_deref());
                // A concurrent `set` wins over the environment.
                let state = if on { ON } else { OFF };
                let _ = self
                    .state
                    .compare_exchange(UNSET, state, Ordering::Relaxed, Ordering::Relaxed);
                self.state.load(Ordering::Relaxed) == ON
            }
        }
    }

    fn set(&self, on: bool) {
        self.state.store(if on { ON } else { OFF }, Ordering::Relaxed);
    }
}

/// The environment variable that turns the fused kernels off (`0`, `off`, `false`, `no`).
pub const ENV: &str = "BEIT_CUDA_KERNELS";

/// The environment variable that keeps the fused attention off the tensor cores (its SIMT kernel,
/// all f32 products, instead), in f16 and bf16.
pub const MMA_ENV: &str = "BEIT_CUDA_MMA_ATTENTION";

static KERNELS: Switch = Switch::new(ENV);
static MMA_ATTENTION: Switch = Switch::new(MMA_ENV);

/// True unless switched off, by `set_enabled(false)` or the environment.
pub fn enabled() -> bool {
    KERNELS.enabled()
}

/// Turns the fused CUDA kernels on or off for the whole process, from the next op on.
pub fn set_enabled(on: bool) {
    KERNELS.set(on);
}

/// Whether the fused attention uses its tensor-core kernel where it can (f16 and bf16, head size
/// a multiple of 16): true unless switched off, by `set_mma_attention(false)` or the environment.
pub fn mma_attention() -> bool {
    MMA_ATTENTION.enabled()
}

/// Turns the tensor-core attention kernel on or off for the whole process.
pub fn set_mma_attention(on: bool) {
    MMA_ATTENTION.set(on);
}

fn from_env(value: Option<&str>) -> bool {
    !matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("0" | "off" | "false" | "no")
    )
}

#[cfg(test)]
mod tests {
    use super::from_env;

    #[test]
    fn environment_values() {
        assert!(from_env(None));
        assert!(from_env(Some("1")));
        assert!(from_env(Some("on")));
        for off in ["0", "off", "OFF", " false ", "no"] {
            assert!(!from_env(Some(off)), "{off:?}");
        }
    }
}
