//! The fused attention kernel's tiles, index maps and online softmax (emulated on the host)
//! against beit's CPU attention, on sizes that end mid-tile, single rows and every head size.

use beit::ops::attention;
use candle_core::{Device, Tensor};
use kernel_check::attention::{
    attention as kernel_attention, attention_strided, bias_offset, flash_bias_async, shared_bytes,
    AttentionShape,
};

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
        if with_bias {
            // The same bias with its rows padded to a multiple of 8 and 8 more, as the model keeps
            // it on CUDA; the padding is NaN, so a read past a row's `seq` values shows.
            let ld = seq.div_ceil(8) * 8 + 8;
            let mut padded = vec![f32::NAN; heads * seq * ld];
            for (r, row) in bias.chunks(seq).enumerate() {
                padded[r * ld..r * ld + seq].copy_from_slice(row);
            }
            let got = attention_strided(&qkv, Some((&padded, ld)), shape, scale);
            let diff = max_diff(&got, &want);
            assert!(diff <= 1e-5, "{shape:?} bias row stride {ld}: max |diff| {diff}");
        }
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

#[test]
fn bias_offsets_follow_the_row_stride() {
    // Head 1, query 2, key 3 of 5 tokens in rows of 8.
    assert_eq!(bias_offset(1, 2, 3, 5, 8), (5 + 2) * 8 + 3);
    assert_eq!(bias_offset(0, 0, 4, 5, 5), 4);
    // 197 tokens (BEiT-base) in the rows of 200 the model pads to.
    assert_eq!(bias_offset(11, 196, 196, 197, 200), (11 * 197 + 196) * 200 + 196);
}

#[test]
fn the_flash_kernel_copies_the_bias_16_bytes_at_a_time_only_where_aligned() {
    assert!(flash_bias_async(0x1000, 200));
    assert!(
        !flash_bias_async(0x1000, 197),
        "rows of 197 two-byte values are not 16-byte aligned"
    );
    assert!(!flash_bias_async(0x1008, 200), "a base off a 16-byte boundary");
}
