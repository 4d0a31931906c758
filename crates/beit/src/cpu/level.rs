//! Which instruction set the CPU kernels use: detected once, capped by `BEIT_CPU`.
//!
//! One binary runs on every x86-64 (it is built for baseline SSE2): each kernel family has a
//! portable loop and versions for wider vectors, and picks by the level found here. The levels are
//! ordered, and `BEIT_CPU=scalar|neon|mmla|avx2|avxvnni|avx512|amx` caps them: the kernels use the
//! highest level this CPU has that is not above it, so that every level's path can be run (and
//! compared) on a machine that has the highest. A level the CPU lacks is never chosen, whatever
//! the variable says.
//!
//! What each level means to the kernels:
//! - `Neon`: aarch64 (where NEON is part of the base architecture): the packed f32 GEMM in 24
//!   q-register accumulators, and the int8 GEMM through `sdot` where the CPU has the dot product
//!   extension (Graviton 2 and later, Apple M1 and later).
//! - `Mmla`: arm64 with I8MM and BF16 on top (Armv8.6: Graviton 3 and 4, Neoverse N2/V1/V2, Apple
//!   M2 and later): the int8 GEMM through `smmla`, the bf16 GEMM and bf16 attention's matmuls
//!   through `bfmmla` (`cpu::arch::arm::mmla`); f32 as `Neon`.
//! - `Avx2`: AVX2 and FMA (the packed f32 and int8 GEMMs, LayerNorm, GELU, softmax loops).
//! - `AvxVnni`: AVX-VNNI on top (Alder Lake and later client cores, Sierra Forest: VNNI without
//!   AVX-512): the int8 GEMM through the 256-bit `vpdpbusd`; the rest as `Avx2`. A CPU with
//!   AVX-512 VNNI but not this (Zen 4, Ice Lake) goes from `Avx2` to `Avx512`, skipping it.
//! - `Avx512`: AVX-512 F, BW, DQ, VL and VNNI on top: the packed f32 GEMM in 512-bit registers,
//!   the int8 GEMM through `vpdpbusd`, and the elementwise loops compiled for AVX-512; where the CPU
//!   also has AVX512_BF16, the bf16 GEMM and bf16 attention's matmuls through `vdpbf16ps`. CPUs with
//!   AVX-512 but without VNNI (Skylake-X) get `Avx2`: the level is measured only where VNNI is.
//! - `Amx`: AMX-TILE, AMX-INT8 and AMX-BF16 on top (Sapphire Rapids and later), with the OS's leave
//!   to use the tile registers (Linux asks for it per process: `x86::amx_permitted`): the int8 and bf16
//!   GEMMs on the tile unit; f32, and bf16 attention's matmuls, stay on the `Avx512` kernels.
//!
//! The f32 matmuls that go through the gemm crate (candle's, and `ops::linear`) choose their own
//! kernels at run time and do not follow `BEIT_CPU`.

use std::sync::OnceLock;

/// An instruction set level, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CpuLevel {
    Scalar,
    Neon,
    Mmla,
    Avx2,
    AvxVnni,
    Avx512,
    Amx,
}

/// The environment variable that caps the level (`scalar`, `neon`, `mmla`, `avx2`, `avxvnni`,
/// `avx512`, `amx`).
pub const ENV: &str = "BEIT_CPU";

impl CpuLevel {
    pub const ALL: [CpuLevel; 7] = [
        CpuLevel::Scalar,
        CpuLevel::Neon,
        CpuLevel::Mmla,
        CpuLevel::Avx2,
        CpuLevel::AvxVnni,
        CpuLevel::Avx512,
        CpuLevel::Amx,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CpuLevel::Scalar => "scalar",
            CpuLevel::Neon => "neon",
            CpuLevel::Mmla => "mmla",
            CpuLevel::Avx2 => "avx2",
            CpuLevel::AvxVnni => "avxvnni",
            CpuLevel::Avx512 => "avx512",
            CpuLevel::Amx => "amx",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|level| level.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The levels this CPU can run, lowest first: what the tests go through.
    pub fn available() -> impl Iterator<Item = CpuLevel> {
        Self::ALL.into_iter().filter(|&level| supported(level))
    }

    /// The highest level this CPU has that is not above `self`.
    fn at_most(self) -> CpuLevel {
        CpuLevel::available()
            .filter(|&l| l <= self)
            .last()
            .unwrap_or(CpuLevel::Scalar)
    }
}

/// Whether this CPU (and its OS, which must save the wider registers) supports `level`.
fn supported(level: CpuLevel) -> bool {
    match level {
        CpuLevel::Scalar => true,
        CpuLevel::Neon => cfg!(target_arch = "aarch64"),
        // Beyond NEON: the dot product extension (the level includes `Neon`'s kernels), I8MM
        // for `cpu::arch::arm::mmla`'s int8 kernels and BF16 for its bf16 ones.
        #[cfg(target_arch = "aarch64")]
        CpuLevel::Mmla => {
            std::arch::is_aarch64_feature_detected!("dotprod")
                && std::arch::is_aarch64_feature_detected!("i8mm")
                && std::arch::is_aarch64_feature_detected!("bf16")
        }
        #[cfg(not(target_arch = "aarch64"))]
        CpuLevel::Mmla => false,
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
        #[cfg(target_arch = "x86_64")]
        CpuLevel::AvxVnni => supported(CpuLevel::Avx2) && is_x86_feature_detected!("avxvnni"),
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx512 => {
            supported(CpuLevel::Avx2)
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512dq")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Amx => supported(CpuLevel::Avx512) && x86::amx_permitted(),
        #[cfg(not(target_arch = "x86_64"))]
        CpuLevel::Avx2 | CpuLevel::AvxVnni | CpuLevel::Avx512 | CpuLevel::Amx => false,
    }
}

/// The highest level this CPU supports (probed once per process: the layers ask on every call).
pub fn detected() -> CpuLevel {
    static DETECTED: OnceLock<CpuLevel> = OnceLock::new();
    *DETECTED.get_or_init(|| CpuLevel::Amx.at_most())
}

/// The level the kernels use: the detected one, capped by `BEIT_CPU` (read once per process).
pub fn active() -> CpuLevel {
    static ACTIVE: OnceLock<CpuLevel> = OnceLock::new();
    *ACTIVE.get_or_init(|| capped(detected(), std::env::var(ENV).ok().as_deref()))
}

/// `detected`, or the highest level at most `cap` when it names one; an unknown name is a
/// warning, not a failure (a tuning knob must not stop a server from starting), and the detected
/// level stays.
fn capped(detected: CpuLevel, cap: Option<&str>) -> CpuLevel {
    match cap.filter(|c| !c.trim().is_empty()) {
        None => detected,
        Some(name) => match CpuLevel::parse(name) {
            Some(level) => level.min(detected).at_most(),
            None => {
                let names: Vec<&str> = CpuLevel::ALL.iter().map(|l| l.name()).collect();
                eprintln!(
                    "beit: {ENV}={name:?} is not a CPU level ({}); using {}",
                    names.join(", "),
                    detected.name()
                );
                detected
            }
        },
    }
}

// Instructions that some CPUs of a level have and others lack, for the kernels that use them where
// present (probed once each).

/// Whether the CPU has AVX512_BF16 (`Avx512` does not require it: Ice Lake lacks it).
pub fn has_avx512_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| is_x86_feature_detected!("avx512bf16"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the CPU has Arm's dot product extension (`Neon` does not require it; `Mmla` does).
pub fn has_dotprod() -> bool {
    #[cfg(target_arch = "aarch64")]
    {
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| std::arch::is_aarch64_feature_detected!("dotprod"))
    }
    #[cfg(not(target_arch = "aarch64"))]
    false
}

/// The x86 probes that `is_x86_feature_detected!` cannot answer.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::sync::OnceLock;

    /// Whether the CPU has AMX-TILE, AMX-INT8 and AMX-BF16, the OS saves their state, and this process
    /// has the OS's leave to use it (asked once). Rust has no stable detection of AMX, so this reads
    /// CPUID and XCR0 itself. Linux hands out the 8 KiB of tile state only to a process that asks for
    /// it (`arch_prctl(ARCH_REQ_XCOMP_PERM)`); without that leave the first tile instruction would be
    /// a SIGILL, so no permission, no AMX level.
    pub fn amx_permitted() -> bool {
        static PERMITTED: OnceLock<bool> = OnceLock::new();
        *PERMITTED.get_or_init(|| cpu_has_amx() && request_permission())
    }

    fn cpu_has_amx() -> bool {
        use std::arch::x86_64::{__cpuid, __cpuid_count};
        // SAFETY: CPUID exists on every x86-64.
        #[allow(unused_unsafe)] // CPUID is a safe call in newer Rust, not yet in the MSRV
        let (max_leaf, leaf1) = unsafe { (__cpuid(0).eax, __cpuid(1)) };
        let osxsave = leaf1.ecx & (1 << 27) != 0;
        if max_leaf < 7 || !osxsave {
            return false;
        }
        // SAFETY: as above; leaf 7 exists (max_leaf).
        #[allow(unused_unsafe)]
        let edx = unsafe { __cpuid_count(7, 0).edx };
        let (bf16, tile, int8) = (edx & (1 << 22) != 0, edx & (1 << 24) != 0, edx & (1 << 25) != 0);
        // XCR0 bits 17 and 18: the OS saves the tile configuration and data.
        // SAFETY: OSXSAVE is set, so XGETBV is enabled.
        let xcr0 = unsafe { xgetbv0() };
        bf16 && tile && int8 && xcr0 & (0b11 << 17) == 0b11 << 17
    }

    #[target_feature(enable = "xsave")]
    unsafe fn xgetbv0() -> u64 {
        std::arch::x86_64::_xgetbv(0)
    }

    #[cfg(target_os = "linux")]
    fn request_permission() -> bool {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: arch_prctl with these arguments only changes what this process may use.
        unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 }
    }

    /// Other systems (Windows, macOS) enable the state for every process when the CPU has it; the
    /// project builds AMX in only where it can check it (Linux).
    #[cfg(not(target_os = "linux"))]
    fn request_permission() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_lowers_the_level_and_never_raises_it() {
        let top = detected();
        for level in CpuLevel::ALL {
            // The highest supported level not above both.
            let want = CpuLevel::available()
                .filter(|&l| l <= level.min(top))
                .last()
                .unwrap();
            assert_eq!(capped(top, Some(level.name())), want, "{level:?}");
            assert!(supported(want) && want <= level);
        }
        assert_eq!(capped(top, Some(" Scalar ")), CpuLevel::Scalar);
        assert_eq!(capped(top, Some("")), top);
        assert_eq!(capped(top, None), top);
        assert_eq!(capped(top, Some("avx1024")), top);
        #[cfg(target_arch = "aarch64")]
        {
            // An arm64 CPU tops out at `Mmla`, which is below every x86 level.
            assert!(matches!(top, CpuLevel::Neon | CpuLevel::Mmla), "{top:?}");
            assert_eq!(capped(top, Some("avx2")), top);
            assert_eq!(capped(top, Some("neon")), CpuLevel::Neon);
        }
    }

    /// A runner that knows its CPU (`scripts/test_arm64.sh`, under an emulated one) names its level
    /// in `BEIT_EXPECT_CPU`, so that a suite there cannot pass at a lower level than it set out to
    /// test (every level's kernels run in the tests that go through `CpuLevel::available()`).
    #[test]
    fn the_level_a_runner_expects_is_detected() {
        if let Ok(want) = std::env::var("BEIT_EXPECT_CPU") {
            assert_eq!(detected().name(), want.trim());
        }
    }

    #[test]
    fn available_levels_run_from_scalar_to_the_detected_one() {
        let levels: Vec<_> = CpuLevel::available().collect();
        assert_eq!(levels.first(), Some(&CpuLevel::Scalar));
        assert_eq!(levels.last(), Some(&detected()));
        assert!(active() <= detected());
    }
}
