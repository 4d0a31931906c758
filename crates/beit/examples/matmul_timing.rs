//! GFLOP/s of candle's CPU matmul on the shapes of a BEiT-base forward pass at batch 8 (the
//! profile's hot spot), to compare with other BLAS on the same machine:
//! `cargo run --profile profiling -p beit --example matmul_timing`.

use std::time::Instant;

use beit::{Device, Tensor};

fn time(a: &Tensor, b: &Tensor) -> candle_core::Result<f64> {
    a.matmul(b)?;
    let runs = 5;
    let start = Instant::now();
    for _ in 0..runs {
        a.matmul(b)?;
    }
    Ok(start.elapsed().as_secs_f64() / runs as f64)
}

fn main() -> candle_core::Result<()> {
    let cpu = Device::Cpu;
    let tokens = 8 * 197;
    // (name, batch, m, k, n, weight transposed as candle's Linear does)
    let shapes = [
        ("qkv", 1, tokens, 768, 2304, true),
        ("fc1", 1, tokens, 768, 3072, true),
        ("fc2", 1, tokens, 3072, 768, true),
        ("scores", 8 * 12, 197, 64, 197, false),
        ("context", 8 * 12, 197, 197, 64, false),
    ];
    for (name, batch, m, k, n, transposed) in shapes {
        let a = Tensor::randn(0f32, 1., (batch, m, k), &cpu)?;
        let b = if transposed {
            Tensor::randn(0f32, 1., (batch, n, k), &cpu)?.transpose(1, 2)?
        } else {
            Tensor::randn(0f32, 1., (batch, k, n), &cpu)?
        };
        let seconds = time(&a, &b)?;
        let gflops = 2.0 * (batch * m * k * n) as f64 / seconds / 1e9;
        println!(
            "{name:8} {batch:3}x[{m}x{k}]x[{k}x{n}]: {:.2} ms, {gflops:.1} GFLOP/s",
            seconds * 1e3
        );
    }
    Ok(())
}
