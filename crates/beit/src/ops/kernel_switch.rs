//! Whether the CUDA forward uses our fused kernels or candle's plain CUDA ops.
//!
//! Both give the same numbers within each dtype's tolerance; the plain path is slower but built
//! only from candle's tested ops, so a bug in one of our kernels can always be worked around
//! (`BEIT_CUDA_KERNELS=0`), and the GPU check compares the two in one process (`set_enabled`).

use std::sync::atomic::{AtomicU8, Ordering};

const UNSET: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNSET);

/// The environment variable that turns the fused kernels off (`0`, `off`, `false`, `no`).
pub const ENV: &str = "BEIT_CUDA_KERNELS";

/// True unless switched off, by `set_enabled(false)` or the environment.
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => {
            let on = from_env(std::env::var(ENV).ok().as_deref());
            // A concurrent `set_enabled` wins over the environment.
            let state = if on { ON } else { OFF };
            let _ = STATE.compare_exchange(UNSET, state, Ordering::Relaxed, Ordering::Relaxed);
            STATE.load(Ordering::Relaxed) == ON
        }
    }
}

/// Turns the fused CUDA kernels on or off for the whole process, from the next op on.
pub fn set_enabled(on: bool) {
    STATE.store(if on { ON } else { OFF }, Ordering::Relaxed);
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
