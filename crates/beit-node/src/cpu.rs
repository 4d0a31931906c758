//! Which CPU kernels this process runs: for `cpuInfo()` and the benchmarks' reports.

use napi_derive::napi;

use beit::cpu::level as cpu_level;

use crate::error::guard;

/// The instruction set levels of the CPU kernels (`scalar`, `neon`, `mmla`, `avx2`, `avxvnni`,
/// `avx512`, `amx`).
#[napi(object)]
pub struct CpuLevels {
    /// The highest level this CPU and OS support.
    pub detected: String,
    /// The level in use: `detected`, lowered by `BEIT_CPU`.
    pub active: String,
    /// The threads of the pool that models without `threads` share (`BEIT_NUM_THREADS`).
    pub threads: u32,
}

/// The CPU kernels' levels, detected and in use, and the shared pool's threads.
#[napi]
pub fn cpu_levels() -> napi::Result<CpuLevels> {
    guard(|| {
        Ok(CpuLevels {
            detected: cpu_level::detected().name().to_owned(),
            active: cpu_level::active().name().to_owned(),
            threads: beit::cpu::threads::global_count() as u32,
        })
    })
}
