//! GFLOP/s of the packed convolutions on the shapes of a 640x640 UperNet head (BEiT-base sized:
//! 768 channels, maps of 160, 80, 40 and 20 pixels), the bulk of a segmentation forward:
//! `cargo run --profile profiling -p beit --example conv_timing [RUNS]`.

use std::time::Instant;

use beit::ops::packed_conv::{Activation, PackedConv2d};
use beit::{Device, Tensor};

fn main() -> candle_core::Result<()> {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let cpu = Device::Cpu;
    // (name, input channels, output channels, kernel, map size)
    let shapes = [
        ("fpn_bottleneck", 3072, 768, 3, 160),
        ("fpn_conv 160", 768, 768, 3, 160),
        ("fpn_conv 80", 768, 768, 3, 80),
        ("lateral 160", 768, 768, 1, 160),
    ];
    for (name, c_in, c_out, k, size) in shapes {
        let weight = Tensor::randn(0f32, 0.02, (c_out, c_in, k, k), &cpu)?;
        let conv = PackedConv2d::conv(&weight, None, None, k / 2, Activation::Relu)?;
        let x = Tensor::randn(0f32, 1., (1, c_in, size, size), &cpu)?;
        conv.forward(&[&x])?;
        let start = Instant::now();
        for _ in 0..runs {
            conv.forward(&[&x])?;
        }
        let seconds = start.elapsed().as_secs_f64() / runs as f64;
        let gflop = 2.0 * (size * size * c_out * c_in * k * k) as f64 / 1e9;
        println!(
            "{name:15} {c_in}->{c_out} {k}x{k} at {size}x{size}: {:.1} ms, {:.1} GFLOP/s",
            seconds * 1e3,
            gflop / seconds
        );
    }
    Ok(())
}
