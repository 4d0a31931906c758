//! The LayerNorm kernel's two-pass statistics and its block reduction (emulated on the host)
//! against beit's CPU LayerNorm (f64 statistics).

use beit::ops::layer_norm;
use candle_core::{Device, Tensor};
use kernel_check::layer_norm::layer_norm as kernel_layer_norm;

fn random(rng: &mut fastrand::Rng, n: usize, offset: f32, amplitude: f32) -> Vec<f32> {
    (0..n)
        .map(|_| offset + (rng.f32() * 2.0 - 1.0) * amplitude)
        .collect()
}

fn check(rows: usize, dim: usize, offset: f32, eps: f32, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let x = random(&mut rng, rows * dim, offset, 3.0);
    let w = random(&mut rng, dim, 1.0, 0.5);
    let b = random(&mut rng, dim, 0.0, 0.5);
    let t = |v: &[f32], shape: &[usize]| Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap();
    let want: Vec<f32> = layer_norm(&t(&x, &[rows, dim]), &t(&w, &[dim]), &t(&b, &[dim]), eps)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let got = kernel_layer_norm(&x, &w, &b, dim, eps);
    let diff = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        diff <= 1e-5,
        "rows {rows} dim {dim} offset {offset}: max |diff| {diff}"
    );
}

#[test]
fn beit_hidden_sizes() {
    check(7, 768, 0.0, 1e-12, 1);
    check(3, 1024, 0.5, 1e-12, 2);
}

#[test]
fn a_large_mean_does_not_cancel() {
    // A residual stream whose mean dwarfs its spread: E[x^2] - E[x]^2 would lose it.
    check(4, 768, 10.0, 1e-12, 3);
}

#[test]
fn awkward_widths() {
    // One value per row (variance 0: the output is the bias), fewer values than threads, and a
    // width that is not a multiple of the block.
    for (i, dim) in [1, 2, 37, 255, 257, 1000].into_iter().enumerate() {
        check(1, dim, 0.0, 1e-6, 10 + i as u64);
        check(3, dim, 0.0, 1e-12, 20 + i as u64);
    }
}
