//! Times 640x640 forward passes of a BEiT-base sized semantic segmentation model (random weights,
//! 150 labels, UperNet + auxiliary head, as bench/segment.mjs builds it) on the CPU, for profiling
//! with `perf record` without Node in the way:
//! `cargo run --profile profiling -p beit --example segment_timing -- [RUNS]`.

use std::time::Instant;

use beit::{Architecture, BeitConfig, ForwardInputs, LoadOptions, Tensor};

fn main() -> beit::Result<()> {
    let runs = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2);
    let config = BeitConfig {
        image_size: 640,
        num_labels: Some(150),
        use_relative_position_bias: true,
        use_mean_pooling: false,
        out_indices: Some(vec![3, 5, 7, 11]),
        auxiliary_channels: 256,
        ..BeitConfig::default()
    };
    // As in the Node addon (crates/beit-node/src/allocator.rs): mimalloc's purge delay, a minute.
    // SAFETY: sets a plain option of mimalloc.
    unsafe { libmimalloc_sys::mi_option_set(15, 60_000) };
    let start = Instant::now();
    let model = Architecture::BeitForSemanticSegmentation.from_config(&config, &LoadOptions::default())?;
    println!("build: {:.3} s", start.elapsed().as_secs_f64());
    let pixels = Tensor::rand(-1f32, 1f32, (1, 3, 640, 640), &beit::Device::Cpu)?;
    let inputs = ForwardInputs::new(pixels);
    for _ in 0..runs {
        let start = Instant::now();
        model.forward(&inputs)?;
        println!("forward: {:.3} s", start.elapsed().as_secs_f64());
    }
    Ok(())
}

// As in the Node addon (crates/beit-node/src/lib.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
