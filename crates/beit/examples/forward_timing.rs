//! Times BEiT-base forward passes (random weights, relative position bias) on the CPU, for
//! profiling with `perf record` without Node in the way:
//! `cargo run --profile profiling -p beit --example forward_timing -- BATCH RUNS`.

use std::time::Instant;

use beit::{Architecture, BeitConfig, ForwardInputs, LoadOptions, Tensor};

fn main() -> beit::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().unwrap_or(1));
    let (batch, runs) = (args.next().unwrap_or(8), args.next().unwrap_or(3));
    let config = BeitConfig {
        use_relative_position_bias: true,
        use_mean_pooling: true,
        ..BeitConfig::default()
    };
    let model = Architecture::BeitForImageClassification.from_config(&config, &LoadOptions::default())?;
    let pixels = Tensor::rand(-1f32, 1f32, (batch, 3, 224, 224), &beit::Device::Cpu)?;
    let inputs = ForwardInputs::new(pixels);
    model.forward(&inputs)?;
    for _ in 0..runs {
        let start = Instant::now();
        model.forward(&inputs)?;
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "batch {batch}: {:.3} s, {:.2} images/s",
            seconds,
            batch as f64 / seconds
        );
    }
    Ok(())
}
