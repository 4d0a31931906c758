//! Compiles the host emulation of the CUDA kernels (src/host_check.cpp) with the C++ compiler: it
//! includes the kernels' headers from crates/beit/kernels, so no nvcc or CUDA is needed.

fn main() {
    let kernels = "../beit/kernels";
    cc::Build::new()
        .cpp(true)
        .file("src/host_check.cpp")
        .include(kernels)
        .flag("-std=c++17")
        .opt_level(2)
        // No fused multiply-adds the source does not write: the device code spells out its fmaf,
        // and an arm64 build would otherwise contract others where nvcc does not.
        .flag_if_supported("-ffp-contract=off")
        .warnings(true)
        .extra_warnings(true)
        .compile("kernel_check_host");
    println!("cargo:rerun-if-changed=src/host_check.cpp");
    println!("cargo:rerun-if-changed={kernels}");
    for header in [
        "beit_common.cuh",
        "attention_tiles.cuh",
        "layer_norm_row.cuh",
        "preprocess_math.cuh",
    ] {
        println!("cargo:rerun-if-changed={kernels}/{header}");
    }
}
