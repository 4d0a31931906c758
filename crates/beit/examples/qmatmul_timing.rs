//! candle's quantized CPU matmul (the int8/int4 path of its GGUF support) against its f32 matmul,
//! on the linear-layer shapes of a BEiT-base batch of 8, with the error of each quantization:
//! `cargo run --profile profiling -p beit --example qmatmul_timing`. Without AVX512-VNNI it
//! falls back to per-row dot products, which is why beit-node has no int8 path built on it
//! (bench/README.md).

use std::time::Instant;

use beit::{Device, Tensor};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::Module;

fn main() -> candle_core::Result<()> {
    let cpu = Device::Cpu;
    let tokens = 8 * 197;
    for (name, k, n) in [("qkv", 768, 2304), ("fc1", 768, 3072), ("fc2", 3072, 768)] {
        let x = Tensor::randn(0f32, 1., (tokens, k), &cpu)?;
        let w = Tensor::randn(0f32, 1., (n, k), &cpu)?;
        let exact = x.matmul(&w.t()?)?;
        for dtype in [GgmlDType::F32, GgmlDType::Q8_0, GgmlDType::Q4_0] {
            let layer = QMatMul::from_qtensor(QTensor::quantize(&w, dtype)?)?;
            let got = layer.forward(&x)?;
            let runs = 3;
            let start = Instant::now();
            for _ in 0..runs {
                layer.forward(&x)?;
            }
            let seconds = start.elapsed().as_secs_f64() / runs as f64;
            let error = (got - &exact)?.abs()?.mean_all()?.to_scalar::<f32>()?;
            println!(
                "{name} {dtype:?}: {:.1} ms, {:.1} GFLOP/s, mean abs error {error:.4}",
                seconds * 1e3,
                2.0 * (tokens * k * n) as f64 / seconds / 1e9
            );
        }
    }
    Ok(())
}
