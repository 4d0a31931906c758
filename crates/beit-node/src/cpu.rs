//! Which CPU kernels this process runs: for `cpuInfo()` and the benchmarks' reports.

use napi_derive::napi;

use beit::cpu::level as cpu_level;

/// The instruction set levels of the CPU kernels (`scalar`, `neon`, `mmla`, `avx2`, `avxvnni`,
/// `avx512`, `amx`).
#[napi(object)]
pub struct CpuLevels {
    /// The highest level this CPU and OS support.
    pub detected: String,
    /// The level in use: `detected`, lowered by `BEIT_CPU`.
    pub active: String,
}

/// The CPU kernels' levels, detected and in use.
#[napi]
pub fn cpu_levels() -> CpuLevels {
    CpuLevels {
        detected: cpu_level::detected().name().to_owned(),
        active: cpu_level::active().name().to_owned(),
    }
}
