//! With the `cuda` feature, compiles our CUDA kernels (`kernels/*.cu`) into one fat binary each:
//! SASS for sm_90 (H100/H200, loaded as is) and PTX for compute_80, which the driver compiles for
//! any GPU from the A100 on. Without the feature this does nothing, so the CPU build needs no CUDA.
//!
//! nvcc is `$NVCC`, else `$CUDA_ROOT/bin/nvcc`, else `nvcc` on the PATH (`npm run build:cuda`
//! installs the pinned toolkit and sets them; see scripts/build_cuda.sh).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One fat binary per op family; `src/cuda/module.rs` embeds them by these names.
const KERNELS: [&str; 4] = ["attention", "layer_norm", "epilogue", "preprocess"];

/// The GPU generations compiled for (see the module comment).
const GENCODE: [&str; 2] = [
    "-gencode=arch=compute_80,code=compute_80",
    "-gencode=arch=compute_90,code=sm_90",
];

fn main() {
    println!("cargo:rerun-if-changed=kernels");
    for var in ["NVCC", "CUDA_ROOT", "CARGO_FEATURE_CUDA"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let nvcc = nvcc();
    for kernel in KERNELS {
        compile(&nvcc, kernel, &out);
    }
}

fn nvcc() -> PathBuf {
    if let Some(nvcc) = env::var_os("NVCC") {
        return nvcc.into();
    }
    match env::var_os("CUDA_ROOT") {
        Some(root) => Path::new(&root).join("bin").join("nvcc"),
        None => "nvcc".into(),
    }
}

fn compile(nvcc: &Path, kernel: &str, out: &Path) {
    let source = Path::new("kernels").join(format!("{kernel}.cu"));
    let target = out.join(format!("{kernel}.fatbin"));
    let status = Command::new(nvcc)
        .arg("--fatbin")
        .args(GENCODE)
        .args(["-O3", "-std=c++17", "-Ikernels", "--Werror", "all-warnings"])
        .arg("-o")
        .arg(&target)
        .arg(&source)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run nvcc ({}): {e}. The `cuda` feature needs the CUDA 13.0 toolkit: \
                 run `npm run build:cuda`, or set NVCC or CUDA_ROOT",
                nvcc.display()
            )
        });
    if !status.success() {
        panic!("nvcc failed on {} ({status})", source.display());
    }
}
