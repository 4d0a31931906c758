//! The fused attention kernel's tiles, index maps and online softmax (emulated on the host)
//! against beit's CPU attention, on sizes that end mid-tile, single rows and every head size.

use beit::ops::attention;
use candle_core::{Device, Tensor};
use kernel_check::attention::{attention as kernel_attention, shared_bytes, AttentionShape};

fn random(rng: &mut fastrand::Rng, n: usize, amplitude: f32) -> Vec<f32> {
    (0..n).map(|_| (rng.f32() * 2.0 - 1.0) * amplitude).collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Emulated kernel vs the CPU op for one shape, with and without a bias.
fn check(shape: AttentionShape, seed: u64) {
    let AttentionShape {
        batch,
        seq,
        heads,
        head_dim,
    } = shape;
    let mut rng = fastrand::Rng::with_seed(seed);
    let dim = heads * head_dim;
    // Amplitude 1.5 gives scores of a few units: the softmax is neither flat nor one-hot, so
    // wrong weights or a lost rescale show.
    let qkv = random(&mut rng, batch * seq * 3 * dim, 1.5);
    let bias = random(&mut rng, heads * seq * seq, 2.0);
    let qkv_t = Tensor::from_vec(qkv.clone(), (batch, seq, 3 * dim), &Device::Cpu).unwrap();
    let bias_t = Tensor::from_vec(bias.clone(), (1, heads, seq, seq), &Device::Cpu).unwrap();
    let scale = 1.0 / (head_dim as f32).sqrt();
    for with_bias in [true, false] {
        let (want, _) = attention(&qkv_t, with_bias.then_some(&bias_t), heads, false).unwrap();
        let want: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
        let got = kernel_attention(&qkv, with_bias.then_some(&bias[..]), shape, scale);
        let diff = max_diff(&got, &want);
        assert!(diff <= 1e-5, "{shape:?} bias {with_bias}: max |diff| {diff}");
    }
}

fn shape(batch: usize, seq: usize, heads: usize, head_dim: usize) -> AttentionShape {
    AttentionShape {
        batch,
        seq,
        heads,
        head_dim,
    }
}

#[test]
fn beit_base_sequence_of_197() {
    // 196 patches + CLS: 7 tiles of 32, the last with 5 rows.
    check(shape(2, 197, 3, 64), 1);
}

#[test]
fn single_token() {
    check(shape(1, 1, 2, 32), 2);
    check(shape(3, 1, 1, 128), 3);
}

#[test]
fn sequences_around_tile_edges() {
    for (i, seq) in [31, 32, 33, 63, 64, 65].into_iter().enumerate() {
        check(shape(2, seq, 2, 32), 10 + i as u64);
    }
}

#[test]
fn every_head_size() {
    for (i, head_dim) in [32, 64, 80, 128, 1, 7, 33, 127].into_iter().enumerate() {
        check(shape(1, 45, 2, head_dim), 20 + i as u64);
    }
}

#[test]
fn shared_memory_stays_under_the_default_limit() {
    // 48 KiB is what a launch gets without opting in to more.
    assert!(shared_bytes(128) <= 48 * 1024);
    assert_eq!(shared_bytes(64), 4 * (64 * 64 + 1152));
    assert_eq!(shared_bytes(128), 4 * (64 * 128 + 1152));
}
