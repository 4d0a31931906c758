//! Each instruction set's kernels, in the arch folder of the CPU that runs them: `native` is this
//! build's (x86-64, arm64, or the portable kernels elsewhere). Every `native` offers the same
//! functions: per format, the table of the kernels a `CpuLevel` runs (`int8_kernels`,
//! `bf16_kernels`), chosen once per call.

#[cfg(target_arch = "x86_64")]
#[path = "x86/mod.rs"]
pub mod native;

#[cfg(target_arch = "aarch64")]
#[path = "arm/mod.rs"]
pub mod native;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[path = "portable.rs"]
pub mod native;
