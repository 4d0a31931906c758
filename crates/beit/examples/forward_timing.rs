//! Times BEiT-base forward passes (random weights, relative position bias) on the CPU, for
//! profiling with `perf record` without Node in the way:
//! `cargo run --profile profiling -p beit --example forward_timing -- BATCH RUNS [MODEL_DIR [q8|bf16]]`
//! (`MODEL_DIR` `random`: BEiT-base with random weights, no checkpoint needed).

use std::time::Instant;

use beit::{Architecture, BeitConfig, ForwardInputs, LoadOptions, Quantization, Tensor};

fn main() -> beit::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (batch, runs) = (number(0, 8), number(1, 3));
    let config = BeitConfig {
        use_relative_position_bias: true,
        use_mean_pooling: true,
        ..BeitConfig::default()
    };
    let architecture = Architecture::BeitForImageClassification;
    let start = Instant::now();
    let options = LoadOptions {
        quantization: match args.get(3).map(String::as_str) {
            Some("q8") => Some(Quantization::Int8),
            Some("bf16") => Some(Quantization::Bfloat16),
            _ => None,
        },
        ..LoadOptions::default()
    };
    let model = match args.get(2).filter(|dir| *dir != "random") {
        Some(dir) => architecture.from_pretrained(dir.as_ref(), &options)?,
        None => architecture.from_config(&config, &options)?,
    };
    println!("load: {:.3} s", start.elapsed().as_secs_f64());
    let pixels = Tensor::rand(-1f32, 1f32, (batch, 3, 224, 224), &beit::Device::Cpu)?;
    let inputs = ForwardInputs::new(pixels);
    let start = Instant::now();
    model.forward(&inputs)?;
    println!("first forward: {:.3} s", start.elapsed().as_secs_f64());
    // From a mapped checkpoint, the second call packs the weights (see `PackedLinear::deferred`).
    let start = Instant::now();
    model.forward(&inputs)?;
    println!("second forward: {:.3} s", start.elapsed().as_secs_f64());
    for _ in 0..runs {
        let start = Instant::now();
        // On a rayon worker, as the batching queue runs CPU forwards (`batching::queue`).
        rayon::scope(|_| model.forward(&inputs))?;
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "batch {batch}: {:.3} s, {:.2} images/s",
            seconds,
            batch as f64 / seconds
        );
    }
    Ok(())
}

// As in the Node addon (crates/beit-node/src/lib.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
