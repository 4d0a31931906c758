//! GFLOP/s (multiply-adds x 2) of the linear layers (f32 through the gemm crate, f32 with packed
//! weights, int8, bf16) on the shapes of a BEiT-base forward pass, with the int8 error relative to the
//! outputs' scale:
//! `cargo run --profile profiling -p beit --example int8_timing -- [ROWS]` (default 8 x 197).

use std::time::Instant;

use beit::ops::bf16_linear::Bf16Linear;
use beit::ops::int8_linear::Int8Linear;
use beit::ops::linear;
use beit::ops::packed_linear::PackedLinear;
use beit::{Device, Tensor};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn best_seconds(mut f: impl FnMut() -> candle_core::Result<Tensor>) -> candle_core::Result<f64> {
    f()?;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        f()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}

fn main() -> candle_core::Result<()> {
    let rows = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(8 * 197);
    for (name, k, n) in [("qkv", 768, 2304), ("fc1", 768, 3072), ("fc2", 3072, 768)] {
        let x = Tensor::randn(0f32, 1., (rows, k), &Device::Cpu)?;
        let w = Tensor::randn(0f32, 0.02, (n, k), &Device::Cpu)?;
        let b = Tensor::randn(0f32, 0.02, n, &Device::Cpu)?;
        let int8 = Int8Linear::new(&w, Some(&b))?;
        let packed = PackedLinear::new(&w, &b)?;
        let bf16 = Bf16Linear::new(&w, Some(&b))?;
        let exact = linear(&x, &w, Some(&b), None)?;
        let error = (int8.forward(&x, None)? - &exact)?
            .abs()?
            .mean_all()?
            .to_scalar::<f32>()?
            / exact.abs()?.mean_all()?.to_scalar::<f32>()?;
        let packed_error = (packed.forward(&x, None)? - &exact)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        let flops = 2.0 * (rows * k * n) as f64;
        let packed_s = best_seconds(|| packed.forward(&x, None))?;
        let f32_s = best_seconds(|| linear(&x, &w, Some(&b), None))?;
        let int8_s = best_seconds(|| int8.forward(&x, None))?;
        let bf16_s = best_seconds(|| bf16.forward(&x, None))?;
        println!(
            "{name} [{rows}x{k}]x[{k}x{n}]: f32 {:.0} GFLOP/s, packed {:.0} (max diff {:.1e}), int8 {:.0} ({:.2}x), mean error {:.2}% of mean |y|, bf16 {:.0}",
            flops / f32_s / 1e9,
            flops / packed_s / 1e9,
            packed_error,
            flops / int8_s / 1e9,
            f32_s / int8_s,
            error * 100.0,
            flops / bf16_s / 1e9
        );
    }
    Ok(())
}
