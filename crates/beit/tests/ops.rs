//! The ops written for candle's gaps, checked against values derived by hand from torch's
//! definitions: bilinear interpolation reproduces a ramp (clamped at the borders), bicubic
//! (A = -0.75) keeps constants and gives the hand-computed taps; adaptive average pooling averages
//! torch's overlapping bins; the fused LayerNorm stays exact on a row with a large mean.

use beit::cpu::bf16_attention;
use beit::cpu::level::CpuLevel;
use beit::cpu::threads::ComputeThreads;
use beit::ops::bf16_linear::Bf16Linear;
use beit::ops::int8_linear::Int8Linear;
use beit::ops::packed_linear::PackedLinear;
use beit::ops::weight_rows::{RowBlock, WeightRows};
use beit::ops::{
    adaptive_avg_pool2d, attention, attention_slow, attention_with, gelu_erf, gelu_erf_slow, layer_norm,
    layer_norm_slow, linear, linear_slow, resize_bicubic, resize_bilinear, AttentionBias, AttentionPrecision,
    GatheredBias,
};
use beit::{DType, Device, Tensor};

fn ramp(n: usize) -> Tensor {
    let v: Vec<f32> = (0..n).map(|i| i as f32).collect();
    Tensor::from_vec(v, (1, 1, 1, n), &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// torch's source coordinate of output i for align_corners=False.
fn source(i: usize, n_in: usize, n_out: usize) -> f32 {
    (i as f32 + 0.5) * n_in as f32 / n_out as f32 - 0.5
}

#[test]
fn bilinear_reproduces_a_ramp_clamped_at_the_borders() {
    for (n_in, n_out) in [(8, 20), (20, 8), (7, 9)] {
        let bilinear = values(&resize_bilinear(&ramp(n_in), 1, n_out).unwrap());
        for (i, got) in bilinear.iter().enumerate() {
            let want = source(i, n_in, n_out).clamp(0.0, n_in as f32 - 1.0);
            assert!(
                (got - want).abs() < 1e-5,
                "bilinear {n_in}->{n_out} at {i}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn bicubic_keeps_constants_and_uses_torch_taps() {
    let flat = (Tensor::ones((1, 1, 3, 5), candle_core::DType::F32, &Device::Cpu).unwrap() * 7.0).unwrap();
    for v in values(&resize_bicubic(&flat, 8, 2).unwrap()) {
        assert!((v - 7.0).abs() < 1e-5);
    }
    // 8 -> 20, output 4: source 1.3, taps at 0..3 with weights far(1.3), near(0.3), near(0.7),
    // far(1.7) = -0.11025, 0.83125, 0.32625, -0.04725 for A = -0.75; on the ramp 0,1,2,3 that is 1.342.
    let up = values(&resize_bicubic(&ramp(8), 1, 20).unwrap());
    assert!((up[4] - 1.342).abs() < 1e-5, "{}", up[4]);
}

#[test]
fn adaptive_pooling_averages_overlapping_bins() {
    // 5 -> 3: torch's bins are [0,2) [1,4) [3,5).
    let pooled = values(&adaptive_avg_pool2d(&ramp(5), 1, 3).unwrap());
    assert_eq!(pooled, vec![0.5, 2.0, 3.5]);
    // 6 -> 1 is the global mean.
    assert_eq!(values(&adaptive_avg_pool2d(&ramp(6), 1, 1).unwrap()), vec![2.5]);
}

#[test]
fn fused_layer_norm_equals_the_reference_and_survives_a_large_mean() {
    let x = (Tensor::randn(0f32, 1.0, (4, 768), &Device::Cpu).unwrap() + 1000.0).unwrap();
    let w = Tensor::randn(1f32, 0.1, 768, &Device::Cpu).unwrap();
    let b = Tensor::randn(0f32, 0.1, 768, &Device::Cpu).unwrap();
    let fused = layer_norm(&x, &w, &b, 1e-12).unwrap();
    let truth = layer_norm_f64(&x, &w, &b);
    let diff = max_abs_diff(&fused, &truth);
    assert!(diff < 1e-5, "fused vs f64: {diff}");
    let slow = layer_norm_slow(&x, &w, &b, 1e-12).unwrap();
    let diff = max_abs_diff(&slow, &truth);
    assert!(diff < 5e-3, "reference vs f64: {diff}");
    // Normalised rows have mean ~0 and variance ~1 before the affine part.
    let ones = Tensor::ones(768, candle_core::DType::F32, &Device::Cpu).unwrap();
    let zeros = Tensor::zeros(768, candle_core::DType::F32, &Device::Cpu).unwrap();
    let normed = layer_norm(&x, &ones, &zeros, 1e-12).unwrap();
    let var: Vec<f32> = normed.sqr().unwrap().mean(1).unwrap().to_vec1().unwrap();
    assert!(var.iter().all(|v| (v - 1.0).abs() < 1e-3), "{var:?}");
}

#[test]
fn fused_attention_equals_the_tensor_op_reference() {
    // 4 heads of 16 over 50 tokens, 3 images; a bias per head as the relative position bias comes.
    let qkv = Tensor::randn(0f32, 1.0, (3, 50, 3 * 64), &Device::Cpu).unwrap();
    let bias = Tensor::randn(0f32, 2.0, (1, 4, 50, 50), &Device::Cpu).unwrap();
    for bias in [Some(&bias), None] {
        let (context, probs) = attention(&qkv, bias, 4, true).unwrap();
        let (want_context, want_probs) = attention_slow(&qkv, bias, 4, true).unwrap();
        assert_eq!(context.dims(), &[3, 50, 64]);
        assert!(max_abs_diff(&context, &want_context) < 1e-5);
        assert!(max_abs_diff(&probs.unwrap(), &want_probs.unwrap()) < 1e-6);
        // Without the probabilities the scores live in scratch space: the same context.
        let (lean, none) = attention(&qkv, bias, 4, false).unwrap();
        assert!(none.is_none());
        assert_eq!(values(&lean), values(&context));
    }
    let err = attention(&qkv, None, 5, false).unwrap_err().to_string();
    assert!(err.contains("5 heads"), "{err}");
}

/// On many threads one image's heads are too few to share out, and each head's queries are cut into
/// blocks (`query_blocks`): the context is the one whole heads give, in float32 and bfloat16.
#[test]
fn attention_cut_into_query_blocks_equals_whole_heads() {
    let (heads, s) = (4, 50);
    let qkv = Tensor::randn(0f32, 1.0, (1, s, 3 * 64), &Device::Cpu).unwrap();
    let table = Tensor::randn(0f32, 2.0, (11, heads), &Device::Cpu).unwrap();
    let index: Vec<u32> = (0..s * s).map(|i| ((i * 7 + i / s) % 11) as u32).collect();
    let bias = AttentionBias::Gathered(GatheredBias::new(&table, index.into()).unwrap());
    for precision in [AttentionPrecision::Float32, AttentionPrecision::Bfloat16] {
        let on = |threads: usize| {
            let pool = ComputeThreads::new(Some(threads)).unwrap();
            pool.run(|| {
                attention_with(&qkv, Some(&bias), heads, false, precision)
                    .unwrap()
                    .0
            })
        };
        let whole = on(1);
        for threads in [3, 5, 8, 13] {
            let diff = max_abs_diff(&on(threads), &whole);
            assert!(diff < 1e-6, "{precision:?} on {threads} threads: {diff}");
        }
    }
}

/// The packed layers' splits for many threads (`Split::for_threads`: smaller blocks of rows where
/// the tiles alone make too few tasks; the tile unit on a range of pairs) give the exact result at
/// every level: one image's rows (197) and 8 images' by 48 tiles, on 7, 13 and 64 threads.
#[test]
fn packed_layers_split_for_many_threads_stay_exact() {
    for rows in [197, 8 * 197] {
        let (x, w) = (ints(rows, 128, -63, 64, 1), ints(768, 128, -63, 63, 2));
        let b = ints(1, 768, -9, 9, 3).flatten_all().unwrap();
        let want = linear_slow(&x, &w, Some(&b), None).unwrap();
        let int8 = Int8Linear::new(&w, Some(&b)).unwrap();
        let bf16 = Bf16Linear::new(&w, Some(&b)).unwrap();
        let packed = PackedLinear::new(&w, &b).unwrap();
        for threads in [7, 13, 64] {
            let pool = ComputeThreads::new(Some(threads)).unwrap();
            for level in CpuLevel::available() {
                let got = pool.run(|| {
                    [
                        int8.forward_at(&x, None, level).unwrap(),
                        bf16.forward_at(&x, None, level).unwrap(),
                        packed.forward_at(&x, None, level).unwrap(),
                    ]
                });
                for (format, got) in ["int8", "bf16", "f32"].iter().zip(got) {
                    assert_eq!(
                        values(&got),
                        values(&want),
                        "{format} {rows} rows at {level:?}, {threads} threads"
                    );
                }
            }
        }
    }
}

/// A bias gathered from a table through an index (the relative position bias on the CPU) gives
/// what the same bias made dense gives, and a bad index or size is refused.
#[test]
fn gathered_attention_bias_equals_its_dense_form() {
    let (rows, heads, s) = (11, 4, 30);
    let table = Tensor::randn(0f32, 2.0, (rows, heads), &Device::Cpu).unwrap();
    let index: Vec<u32> = (0..s * s).map(|i| ((i * 7 + i / s) % rows) as u32).collect();
    let gathered = GatheredBias::new(&table, index.clone().into()).unwrap();
    let dense = gathered.dense().unwrap();
    // Head 2, pair (3, 5), by hand.
    let want: f32 = table
        .get(index[3 * s + 5] as usize)
        .unwrap()
        .get(2)
        .unwrap()
        .to_scalar()
        .unwrap();
    let got: f32 = dense
        .flatten_all()
        .unwrap()
        .get(2 * s * s + 3 * s + 5)
        .unwrap()
        .to_scalar()
        .unwrap();
    assert_eq!(got, want);
    let qkv = Tensor::randn(0f32, 1.0, (2, s, 3 * 32), &Device::Cpu).unwrap();
    let bias = AttentionBias::Gathered(gathered.clone());
    let (context, probs) =
        attention_with(&qkv, Some(&bias), heads, true, AttentionPrecision::Float32).unwrap();
    let (want_context, want_probs) = attention(&qkv, Some(&dense), heads, true).unwrap();
    assert_eq!(values(&context), values(&want_context));
    assert_eq!(values(&probs.unwrap()), values(&want_probs.unwrap()));
    // Two gathered biases through one index add their tables.
    let twice = bias.add(&bias).unwrap();
    assert!(matches!(twice, AttentionBias::Gathered(_)));
    let doubled = (&dense + &dense).unwrap();
    assert_eq!(values(&twice.dense().unwrap()), values(&doubled));

    let mut bad = index.clone();
    bad[17] = rows as u32;
    let err = GatheredBias::new(&table, bad.into()).unwrap_err().to_string();
    assert!(err.contains("past the table"), "{err}");
    let short = qkv.narrow(1, 0, s - 1).unwrap();
    let err = attention_with(&short, Some(&bias), heads, false, AttentionPrecision::Float32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("a bias for 30 tokens"), "{err}");
}

/// With `AttentionPrecision::Bfloat16` on a CPU that multiplies bf16, the scores are Q times K^T
/// rounded to bf16 (f32 sums, then the f32 biased softmax) and the context the probabilities times
/// V rounded to bf16: f32 ops on the rounded operands give the same within the sums' rounding.
/// Elsewhere the option changes nothing.
#[test]
fn bf16_attention_multiplies_operands_rounded_to_bf16() {
    // 37 tokens (4 blocks of 8 rows and 5), 3 tiles of keys; heads of 24 (a tile and a half) and of
    // 8 (half a tile and a tile of padding).
    for head_dim in [24, 8] {
        bf16_attention_case(37, head_dim);
    }
}

fn bf16_attention_case(s: usize, head_dim: usize) {
    let (b, heads) = (2, 3);
    let d = heads * head_dim;
    let qkv = Tensor::randn(0f32, 1.0, (b, s, 3 * d), &Device::Cpu).unwrap();
    let table = Tensor::randn(0f32, 1.0, (11, heads), &Device::Cpu).unwrap();
    let index: Vec<u32> = (0..s * s).map(|i| ((i * 5 + i / s) % 11) as u32).collect();
    let gathered = GatheredBias::new(&table, index.into()).unwrap();
    let dense = gathered.dense().unwrap();
    let bias = AttentionBias::Gathered(gathered);
    let bf16 = |with_probs| {
        attention_with(&qkv, Some(&bias), heads, with_probs, AttentionPrecision::Bfloat16).unwrap()
    };
    let ((context, probs), (lean, _)) = (bf16(true), bf16(false));
    let (f32_context, _) = attention(&qkv, Some(&dense), heads, true).unwrap();
    assert_eq!(values(&lean), values(&context));
    if !bf16_attention::available() {
        assert_eq!(values(&context), values(&f32_context));
        return;
    }
    let round = |t: Tensor| t.to_dtype(DType::BF16).unwrap().to_dtype(DType::F32).unwrap();
    let split = qkv
        .reshape((b, s, 3, heads, head_dim))
        .unwrap()
        .permute((2, 0, 3, 1, 4))
        .unwrap();
    let part = |i: usize| round(split.get(i).unwrap().contiguous().unwrap());
    let (q, k, v) = (part(0), part(1), part(2));
    let scores = (q.matmul(&k.t().unwrap()).unwrap() * (1.0 / (head_dim as f64).sqrt()))
        .unwrap()
        .broadcast_add(&dense)
        .unwrap();
    let want_probs = candle_nn::ops::softmax_last_dim(&scores).unwrap();
    let probs = probs.unwrap();
    assert!(max_abs_diff(&probs, &want_probs) < 1e-5);
    let want = round(probs)
        .matmul(&v)
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .reshape((b, s, d))
        .unwrap();
    assert!(max_abs_diff(&context, &want) < 1e-5);
    let off = max_abs_diff(&context, &f32_context);
    assert!(off > 1e-4 && off < 0.05, "bf16 context off f32's by {off}");
}

#[test]
fn fused_linear_adds_bias_and_residual_as_the_reference() {
    let xs = Tensor::randn(0f32, 1.0, (2, 7, 24), &Device::Cpu).unwrap();
    let w = Tensor::randn(0f32, 0.2, (40, 24), &Device::Cpu).unwrap();
    let b = Tensor::randn(0f32, 1.0, 40, &Device::Cpu).unwrap();
    let r = Tensor::randn(0f32, 1.0, (2, 7, 40), &Device::Cpu).unwrap();
    for (bias, residual) in [
        (Some(&b), Some(&r)),
        (Some(&b), None),
        (None, Some(&r)),
        (None, None),
    ] {
        let got = linear(&xs, &w, bias, residual).unwrap();
        let want = linear_slow(&xs, &w, bias, residual).unwrap();
        assert_eq!(got.dims(), &[2, 7, 40]);
        assert!(max_abs_diff(&got, &want) < 1e-5);
    }
    let err = linear(&xs, &w.t().unwrap(), None, None).unwrap_err().to_string();
    assert!(err.contains("does not end in 40 features"), "{err}");
    let err = linear(&xs, &w, Some(&b), Some(&xs)).unwrap_err().to_string();
    assert!(err.contains("residual"), "{err}");
}

#[test]
fn linear_gives_each_batch_item_what_it_gives_alone() {
    // A classifier over pooled features ([B, 768] -> 1000) and a token head ([B, 197, 768]): the
    // request queue batches calls and promises each its unbatched result, bit for bit (gemm's
    // kernels by row count broke this on arm64).
    let w = Tensor::randn(0f32, 0.05, (1000, 768), &Device::Cpu).unwrap();
    let b = Tensor::randn(0f32, 1.0, 1000, &Device::Cpu).unwrap();
    for dims in [vec![5, 768], vec![3, 197, 768]] {
        let xs = Tensor::randn(0f32, 1.0, dims.as_slice(), &Device::Cpu).unwrap();
        let batched = linear(&xs, &w, Some(&b), None).unwrap();
        for i in 0..dims[0] {
            let alone = linear(&xs.narrow(0, i, 1).unwrap(), &w, Some(&b), None).unwrap();
            assert_eq!(
                values(&batched.narrow(0, i, 1).unwrap()),
                values(&alone),
                "item {i} of {dims:?}"
            );
        }
    }
}

/// `rows x cols` integers in `lo..=hi`, with `hi` and `lo` in the first two columns.
fn ints(rows: usize, cols: usize, lo: i64, hi: i64, seed: usize) -> Tensor {
    let span = (hi - lo + 1) as usize;
    let v: Vec<f32> = (0..rows * cols)
        .map(|i| match i % cols {
            0 => hi as f32,
            1 => lo as f32,
            _ => (((i * 7919 + seed) % span) as i64 + lo) as f32,
        })
        .collect();
    Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
}

/// On integers every sum is exact in f32 whatever its order, so the packed layer must give the
/// reference to the last bit, at every CPU level this machine has, on shapes that cut every block,
/// tile, tile pair and panel short: rows past a block and not a multiple of 6, inputs past a pass
/// of 256, a partial tile of channels, an odd number of tiles.
#[test]
fn packed_linear_is_exact_on_integer_values_of_any_shape() {
    let shapes = [
        (13, 23, 37),
        (1, 5, 16),
        (197, 600, 40),
        (250, 300, 130),
        (7, 33, 64),
        (6, 8, 20),
    ];
    for (rows, n_in, n_out) in shapes {
        let (x, w) = (ints(rows, n_in, -63, 64, 1), ints(n_out, n_in, -127, 127, 2));
        let b = ints(1, n_out, -9, 9, 3).flatten_all().unwrap();
        let r = ints(rows, n_out, -99, 99, 4);
        let layer = PackedLinear::new(&w, &b).unwrap();
        for (level, residual) in CpuLevel::available().flat_map(|l| [(l, Some(&r)), (l, None)]) {
            let got = layer.forward_at(&x, residual, level).unwrap();
            let want = linear_slow(&x, &w, Some(&b), residual).unwrap();
            assert_eq!(
                values(&got),
                values(&want),
                "{rows}x{n_in} -> {n_out} at {level:?}"
            );
        }
    }
    let empty = Tensor::zeros((0, 300), candle_core::DType::F32, &Device::Cpu).unwrap();
    let layer = PackedLinear::new(
        &ints(130, 300, -63, 63, 2),
        &ints(1, 130, -9, 9, 3).flatten_all().unwrap(),
    );
    assert_eq!(layer.unwrap().forward(&empty, None).unwrap().dims(), &[0, 130]);
    let layer = PackedLinear::new(&ints(4, 8, -1, 1, 0), &ints(1, 4, 0, 1, 0).flatten_all().unwrap());
    let err = layer
        .unwrap()
        .forward(&ints(3, 7, 0, 1, 0), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not end in 8 features"), "{err}");
}

/// Integers that quantize with scale 1 (weights in -63..=63 with a 63 in every row, inputs
/// spanning exactly -63..=64) go through the int8 layer exactly: it must give the f32 result to
/// the last bit, whatever the shapes (odd inputs, a partial tile of channels, a partial group of
/// rows); no rows give no rows.
#[test]
fn int8_linear_is_exact_on_integer_values_of_any_shape() {
    // Then three with inputs in whole steps of the AMX kernel (64) and rows past its 16 (the third
    // ends its row blocks in 32 rows, 16 rows and a rest: the tile unit's three calls); the last
    // has more activations than one block of the AVX-512 path holds (512 KiB: two blocks of rows,
    // by an odd number of tiles).
    let shapes = [
        (13, 23, 37),
        (1, 2, 16),
        (7, 64, 33),
        (6, 9, 48),
        (40, 128, 80),
        (17, 192, 33),
        (310, 64, 64),
        (700, 800, 80),
    ];
    for (rows, n_in, n_out) in shapes {
        let (x, w) = (ints(rows, n_in, -63, 64, 1), ints(n_out, n_in, -63, 63, 2));
        let b = Tensor::randn(0f32, 1.0, n_out, &Device::Cpu).unwrap();
        let r = Tensor::randn(0f32, 1.0, (rows, n_out), &Device::Cpu).unwrap();
        let layer = Int8Linear::new(&w, Some(&b)).unwrap();
        // With a residual the kernels add to it; without one they write memory never read.
        for (level, residual) in CpuLevel::available().flat_map(|l| [(l, Some(&r)), (l, None)]) {
            let got = layer.forward_at(&x, residual, level).unwrap();
            let want = linear_slow(&x, &w, Some(&b), residual).unwrap();
            assert_eq!(
                values(&got),
                values(&want),
                "{rows}x{n_in} -> {n_out} at {level:?}, residual {}",
                residual.is_some()
            );
        }
    }
    // The kernel's i16 sums at their limit: inputs at the top level (127) against weights of +-63
    // everywhere, four products per sum (32004), must not saturate.
    let mut top = vec![64f32; 3 * 40];
    top[0] = -63.0;
    let x = Tensor::from_vec(top, (3, 40), &Device::Cpu).unwrap();
    let w = Tensor::from_vec(
        (0..2 * 16 * 40)
            .map(|i| if i < 16 * 40 { 63f32 } else { -63.0 })
            .collect(),
        (32, 40),
        &Device::Cpu,
    )
    .unwrap();
    let layer = Int8Linear::new(&w, None).unwrap();
    let want = values(&linear_slow(&x, &w, None, None).unwrap());
    let empty = Tensor::zeros((0, 40), DType::F32, &Device::Cpu).unwrap();
    for level in CpuLevel::available() {
        assert_eq!(
            values(&layer.forward_at(&x, None, level).unwrap()),
            want,
            "{level:?}"
        );
        assert_eq!(layer.forward_at(&empty, None, level).unwrap().dims(), &[0, 32]);
    }
}

/// On real-valued input the int8 levels still agree to the last bit (the i32 sums are exact and
/// the epilogue's operations come in one order), and the f32 levels within rounding of their
/// different order of additions.
#[test]
fn every_cpu_level_gives_the_portable_result_on_random_values() {
    for (rows, n_in, n_out) in [(197, 768, 2304), (5, 100, 48), (13, 520, 72)] {
        let x = Tensor::randn(0f32, 1.0, (rows, n_in), &Device::Cpu).unwrap();
        let w = Tensor::randn(0f32, 0.05, (n_out, n_in), &Device::Cpu).unwrap();
        let b = Tensor::randn(0f32, 0.05, n_out, &Device::Cpu).unwrap();
        let int8 = Int8Linear::new(&w, Some(&b)).unwrap();
        let packed = PackedLinear::new(&w, &b).unwrap();
        let want_int8 = values(&int8.forward_at(&x, None, CpuLevel::Scalar).unwrap());
        let want_f32 = packed.forward_at(&x, None, CpuLevel::Scalar).unwrap();
        for level in CpuLevel::available() {
            let got = int8.forward_at(&x, None, level).unwrap();
            assert_eq!(
                values(&got),
                want_int8,
                "int8 {rows}x{n_in} -> {n_out} at {level:?}"
            );
            let got = packed.forward_at(&x, None, level).unwrap();
            let err = max_abs_diff(&got, &want_f32);
            assert!(err < 2e-5, "f32 {rows}x{n_in} -> {n_out} at {level:?}: {err}");
        }
    }
}

/// Integers of at most 8 significant bits are bf16 values, and their products and sums here are
/// exact in f32: the bf16 layer must give the f32 result to the last bit at every level, on shapes
/// that cut the tile unit's step of 32 inputs, its 16 rows and its pairs of tiles short, and with
/// whole steps and pairs (then: the last ends its row blocks in 32 rows, 16 and a rest), and with
/// more activations than one block of the AVX512_BF16 path holds (512 KiB: two blocks of rows,
/// by an odd number of tiles). No rows give no rows.
#[test]
fn bf16_linear_is_exact_on_integer_values_of_any_shape() {
    let shapes = [
        (13, 23, 37),
        (1, 2, 16),
        (7, 64, 33),
        (6, 9, 48),
        (40, 128, 96),
        (35, 96, 64),
        (310, 64, 64),
        (601, 600, 80),
    ];
    for (rows, n_in, n_out) in shapes {
        let (x, w) = (ints(rows, n_in, -63, 64, 1), ints(n_out, n_in, -127, 127, 2));
        let b = ints(1, n_out, -9, 9, 3).flatten_all().unwrap();
        let r = ints(rows, n_out, -99, 99, 4);
        let layer = Bf16Linear::new(&w, Some(&b)).unwrap();
        for (level, residual) in CpuLevel::available().flat_map(|l| [(l, Some(&r)), (l, None)]) {
            let got = layer.forward_at(&x, residual, level).unwrap();
            let want = linear_slow(&x, &w, Some(&b), residual).unwrap();
            assert_eq!(
                values(&got),
                values(&want),
                "{rows}x{n_in} -> {n_out} at {level:?}"
            );
        }
    }
    let layer = Bf16Linear::new(&ints(40, 30, -9, 9, 2), None).unwrap();
    let empty = Tensor::zeros((0, 30), DType::F32, &Device::Cpu).unwrap();
    for level in CpuLevel::available() {
        assert_eq!(layer.forward_at(&empty, None, level).unwrap().dims(), &[0, 40]);
    }
}

/// On real values every level computes the products of the bf16-rounded operands (exact in f32)
/// and differs only in the order of the f32 sums; against f64 sums of those products each stays
/// within a few f32 roundings of the sum of their magnitudes.
#[test]
fn every_cpu_level_gives_the_bf16_products_on_random_values() {
    let round = |t: &Tensor| {
        t.to_dtype(candle_core::DType::BF16)
            .unwrap()
            .to_dtype(candle_core::DType::F64)
            .unwrap()
    };
    for (rows, n_in, n_out) in [(197, 768, 2304), (5, 100, 48), (21, 520, 72)] {
        let x = Tensor::randn(0f32, 1.0, (rows, n_in), &Device::Cpu).unwrap();
        let w = Tensor::randn(0f32, 0.05, (n_out, n_in), &Device::Cpu).unwrap();
        let b = Tensor::randn(0f32, 0.05, n_out, &Device::Cpu).unwrap();
        let layer = Bf16Linear::new(&w, Some(&b)).unwrap();
        let (xr, wr) = (round(&x), round(&w));
        let want = xr.matmul(&wr.t().unwrap()).unwrap();
        let want = want
            .broadcast_add(&b.to_dtype(candle_core::DType::F64).unwrap())
            .unwrap();
        let magnitude = xr.abs().unwrap().matmul(&wr.abs().unwrap().t().unwrap()).unwrap();
        for level in CpuLevel::available() {
            let got = layer
                .forward_at(&x, None, level)
                .unwrap()
                .to_dtype(candle_core::DType::F64)
                .unwrap();
            let err = ((&got - &want).unwrap().abs().unwrap() - (&magnitude * 1e-6).unwrap()).unwrap();
            let worst: f64 = err.max_all().unwrap().to_scalar().unwrap();
            assert!(worst <= 1e-6, "{rows}x{n_in} -> {n_out} at {level:?}: {worst}");
        }
    }
}

/// Against the f32 layer the bf16 one is off by its operands' rounding (2^-9 relative each), and
/// not by more; a non-finite input makes its row NaN or infinite as in f32.
#[test]
fn bf16_linear_stays_within_rounding_of_f32() {
    let x = Tensor::randn(0f32, 1.0, (2, 50, 96), &Device::Cpu).unwrap();
    let w = Tensor::randn(0f32, 0.05, (40, 96), &Device::Cpu).unwrap();
    let b = Tensor::randn(0f32, 0.05, 40, &Device::Cpu).unwrap();
    let got = Bf16Linear::new(&w, Some(&b)).unwrap().forward(&x, None).unwrap();
    let want = linear_slow(&x, &w, Some(&b), None).unwrap();
    let scale: f32 = want.abs().unwrap().mean_all().unwrap().to_scalar().unwrap();
    let err: f32 = (&got - &want)
        .unwrap()
        .abs()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!(
        err < 0.01 * scale && err > 0.0,
        "mean error {err} for mean |y| {scale}"
    );
    let mut v = values(&x.get(0).unwrap());
    v[3] = f32::NAN;
    v[96 + 5] = f32::INFINITY;
    let x = Tensor::from_vec(v, (50, 96), &Device::Cpu).unwrap();
    let layer = Bf16Linear::new(&w, None).unwrap();
    for level in CpuLevel::available() {
        let out = layer
            .forward_at(&x, None, level)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert!(out[0].iter().all(|y| y.is_nan()), "{level:?}: {:?}", &out[0][..4]);
        assert!(
            out[1].iter().all(|y| !y.is_finite()),
            "{level:?}: {:?}",
            &out[1][..4]
        );
        assert!(out[2].iter().all(|y| y.is_finite()), "{level:?}");
    }
}

#[test]
fn int8_linear_stays_within_quantization_error() {
    let x = Tensor::randn(0f32, 1.0, (2, 50, 96), &Device::Cpu).unwrap();
    let w = Tensor::randn(0f32, 0.05, (40, 96), &Device::Cpu).unwrap();
    let b = Tensor::randn(0f32, 0.05, 40, &Device::Cpu).unwrap();
    let got = Int8Linear::new(&w, Some(&b)).unwrap().forward(&x, None).unwrap();
    let want = linear_slow(&x, &w, Some(&b), None).unwrap();
    let scale: f32 = want.abs().unwrap().mean_all().unwrap().to_scalar().unwrap();
    let err: f32 = (&got - &want)
        .unwrap()
        .abs()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    // Steps of max/63 (weights) and range/127 (activations): about 1.5% of a typical output here.
    assert!(
        err < 0.03 * scale && err > 0.0,
        "mean error {err} for mean |y| {scale}"
    );
    let wrong = Tensor::zeros((3, 95), candle_core::DType::F32, &Device::Cpu).unwrap();
    let err = Int8Linear::new(&w, None)
        .unwrap()
        .forward(&wrong, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not end in 96 features"), "{err}");
}

#[test]
fn fast_gelu_matches_the_exact_erf_form_everywhere() {
    // Every float in [-12, 12] at a step of 1e-3, across the saturation points of erf.
    let xs: Vec<f32> = (-12_000..=12_000).map(|i| i as f32 * 1e-3).collect();
    let x = Tensor::new(xs.as_slice(), &Device::Cpu).unwrap();
    let exact: Vec<f64> = xs
        .iter()
        .map(|&v| {
            let v = v as f64;
            0.5 * v * (1.0 + erf_f64(v / std::f64::consts::SQRT_2))
        })
        .collect();
    let fast = values(&gelu_erf(&x).unwrap());
    let slow = values(&gelu_erf_slow(&x).unwrap());
    // 1 + erf(x) cancels in f32 in the negative tail (as in torch): a few 1e-7 there are inherent.
    let close = |a: f32, e: f64| (a as f64 - e).abs() <= 2e-6 + 1e-6 * e.abs();
    for ((&f, &s), &e) in fast.iter().zip(&slow).zip(&exact) {
        assert!(close(f, e), "fast {f} vs exact {e}");
        assert!(close(s, e), "candle {s} vs exact {e}");
    }
}

/// erf in f64 from its Taylor series, accurate to about 1e-9 for |x| <= 4 (the terms grow to
/// e^16 before they shrink); beyond 4, 1 - |erf| < 2e-8, far below what the test resolves.
fn erf_f64(x: f64) -> f64 {
    if x.abs() > 4.0 {
        return x.signum();
    }
    let mut term = x;
    let mut sum = x;
    for n in 1..200 {
        term *= -x * x / n as f64;
        let add = term / (2 * n + 1) as f64;
        sum += add;
        if add.abs() < 1e-17 {
            break;
        }
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// LayerNorm computed in f64 from the same f32 inputs.
fn layer_norm_f64(x: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    let (rows, dim) = x.dims2().unwrap();
    let xs: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
    let (w, b): (Vec<f32>, Vec<f32>) = (w.to_vec1().unwrap(), b.to_vec1().unwrap());
    let mut out = Vec::with_capacity(xs.len());
    for row in xs.chunks(dim) {
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / dim as f64;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / dim as f64;
        for (i, &v) in row.iter().enumerate() {
            out.push((((v as f64 - mean) / (var + 1e-12).sqrt()) * w[i] as f64 + b[i] as f64) as f32);
        }
    }
    Tensor::from_vec(out, (rows, dim), &Device::Cpu).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

/// The packers read a weight stacked from blocks (floats, or little-endian bytes at any alignment, as
/// in a mapped file) with a scale per output row.
#[test]
fn weight_rows_read_stacked_blocks_with_their_scale() {
    let floats: Vec<f32> = (0..6).map(|v| v as f32).collect();
    let mut bytes = vec![0xffu8];
    bytes.extend((6..15).flat_map(|v| (v as f32).to_le_bytes()));
    let scale = [1.0, 2.0, 3.0, 4.0, 5.0];
    let blocks = vec![RowBlock::F32(&floats), RowBlock::LeBytes(&bytes[1..])];
    let rows = WeightRows::new(blocks, 3, Some(&scale)).unwrap();
    assert_eq!((rows.n_out(), rows.n_in()), (5, 3));
    for (row, s) in scale.iter().enumerate() {
        let mut out = [0f32; 2];
        rows.read(row, 1, &mut out);
        let want = [(3 * row + 1) as f32 * s, (3 * row + 2) as f32 * s];
        assert_eq!(out, want, "row {row}");
    }
    let err = WeightRows::new(vec![RowBlock::F32(&floats[..5])], 3, None).unwrap_err();
    assert!(err.to_string().contains("rows of 3 inputs"), "{err}");
    assert!(WeightRows::new(vec![RowBlock::F32(&floats)], 3, Some(&scale)).is_err());
}

/// A weight read through `WeightRows` from stacked, scaled blocks packs to the same layer as the
/// one tensor they make.
#[test]
fn layers_from_stacked_scaled_rows_equal_layers_from_one_tensor() {
    let (top, bottom) = (ints(16, 20, -63, 63, 3), ints(21, 20, -63, 63, 4));
    let scale = Tensor::randn(0f32, 1.0, 37, &Device::Cpu).unwrap();
    let whole = Tensor::cat(&[&top, &bottom], 0)
        .unwrap()
        .broadcast_mul(&scale.unsqueeze(1).unwrap())
        .unwrap();
    let bias = Tensor::randn(0f32, 1.0, 37, &Device::Cpu).unwrap();
    let x = Tensor::randn(0f32, 1.0, (9, 20), &Device::Cpu).unwrap();
    let (top, bottom, scale) = (values(&top), values(&bottom), values(&scale));
    let rows = || {
        WeightRows::new(
            vec![RowBlock::F32(&top), RowBlock::F32(&bottom)],
            20,
            Some(&scale),
        )
        .unwrap()
    };
    let packed = PackedLinear::from_rows(&rows(), &bias)
        .unwrap()
        .forward(&x, None)
        .unwrap();
    let want = PackedLinear::new(&whole, &bias)
        .unwrap()
        .forward(&x, None)
        .unwrap();
    assert_eq!(values(&packed), values(&want));
    let int8 = Int8Linear::from_rows(&rows(), Some(&bias))
        .unwrap()
        .forward(&x, None)
        .unwrap();
    let want = Int8Linear::new(&whole, Some(&bias))
        .unwrap()
        .forward(&x, None)
        .unwrap();
    assert_eq!(values(&int8), values(&want));
}

/// A weight that a deferred layer reads where it lies: floats in place, or little-endian bytes one
/// byte off alignment (read through a copy), with a scale per output; counts its releases.
#[derive(Debug)]
struct CountingSource {
    floats: Vec<f32>,
    bytes: Vec<u8>,
    scale: Vec<f32>,
    unaligned: bool,
    n_in: usize,
    releases: std::sync::atomic::AtomicUsize,
}

impl CountingSource {
    fn new(weight: &Tensor, scale: &Tensor, unaligned: bool) -> Self {
        let floats = values(weight);
        let mut bytes = vec![0u8];
        bytes.extend(floats.iter().flat_map(|v| v.to_le_bytes()));
        Self {
            floats,
            bytes,
            scale: values(scale),
            unaligned,
            n_in: weight.dims()[1],
            releases: Default::default(),
        }
    }

    fn releases(&self) -> usize {
        self.releases.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The layer's handle on a source the test keeps watching.
#[derive(Debug)]
struct Shared(std::sync::Arc<CountingSource>);

impl beit::ops::weight_rows::RowSource for Shared {
    fn rows(&self) -> candle_core::Result<WeightRows<'_>> {
        let block = match self.0.unaligned {
            true => RowBlock::LeBytes(&self.0.bytes[1..]),
            false => RowBlock::F32(&self.0.floats),
        };
        WeightRows::new(vec![block], self.0.n_in, Some(&self.0.scale))
    }

    fn release(&self) {
        self.0.releases.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A layer's forward pass as a plain function of its input.
type Forward = Box<dyn Fn(&Tensor) -> Vec<f32>>;

fn forward_of(layer: impl Fn(&Tensor) -> candle_core::Result<Tensor> + 'static) -> Forward {
    Box::new(move |x| values(&layer(x).unwrap()))
}

/// A weight with a scale per output, and a call of one image's rows and one of more.
struct DeferredCase {
    weight: Tensor,
    scale: Tensor,
    small: Tensor,
    large: Tensor,
}

/// Checks a kind of deferred layer (`deferred` builds one over a source) against `want`.
fn check_deferred(case: &DeferredCase, kind: &str, want: Forward, deferred: impl Fn(Shared) -> Forward) {
    for unaligned in [false, true] {
        let source = || std::sync::Arc::new(CountingSource::new(&case.weight, &case.scale, unaligned));
        let watched = source();
        let layer = deferred(Shared(watched.clone()));
        let calls = [(&case.small, 0), (&case.small, 1), (&case.large, 1)];
        for (call, (x, releases)) in calls.into_iter().enumerate() {
            assert_eq!(layer(x), want(x), "{kind}, call {call}");
            assert_eq!(watched.releases(), releases, "{kind}, releases after call {call}");
        }
        let watched = source();
        let layer = deferred(Shared(watched.clone()));
        assert_eq!(layer(&case.large), want(&case.large), "{kind}");
        assert_eq!(
            watched.releases(),
            1,
            "{kind}: a first call of 250 rows makes the weight"
        );
    }
}

/// A deferred layer (f32 packed, or int8) gives, call after call, what the layer made at once
/// gives: its first call of at most one image's rows reads the weight where it lies (nothing made,
/// nothing released), the next makes it and releases the source once; a first call of more rows
/// makes it at once.
#[test]
fn deferred_layers_read_the_weight_in_place_once_then_make_it() {
    let (n_out, n_in) = (37, 300);
    let case = DeferredCase {
        weight: ints(n_out, n_in, -63, 63, 5),
        scale: Tensor::randn(0f32, 1.0, n_out, &Device::Cpu).unwrap(),
        small: ints(197, n_in, -63, 64, 6),
        large: ints(250, n_in, -63, 64, 7),
    };
    let bias = Tensor::randn(0f32, 1.0, n_out, &Device::Cpu).unwrap();
    let scaled = case
        .weight
        .broadcast_mul(&case.scale.unsqueeze(1).unwrap())
        .unwrap();

    let packed = PackedLinear::new(&scaled, &bias).unwrap();
    check_deferred(
        &case,
        "f32",
        forward_of(move |x| packed.forward(x, None)),
        |source| {
            let layer = PackedLinear::deferred(Box::new(source), &bias).unwrap();
            forward_of(move |x| layer.forward(x, None))
        },
    );
    let int8 = Int8Linear::new(&scaled, Some(&bias)).unwrap();
    check_deferred(
        &case,
        "int8",
        forward_of(move |x| int8.forward(x, None)),
        |source| {
            let layer = Int8Linear::deferred(Box::new(source), Some(&bias)).unwrap();
            forward_of(move |x| layer.forward(x, None))
        },
    );
}

/// `finish_loading` makes a deferred weight ready at once (what the request queue does when it
/// falls idle), once: the source is released, and the layer computes as one made at load.
#[test]
fn finishing_the_load_makes_a_deferred_weight_ready_once() {
    let weight = ints(37, 300, -63, 63, 8);
    let scale = Tensor::randn(0f32, 1.0, 37, &Device::Cpu).unwrap();
    let bias = Tensor::randn(0f32, 1.0, 37, &Device::Cpu).unwrap();
    let scaled = weight.broadcast_mul(&scale.unsqueeze(1).unwrap()).unwrap();
    let x = ints(5, 300, -63, 64, 9);
    let source = || std::sync::Arc::new(CountingSource::new(&weight, &scale, false));

    let watched = source();
    let layer = PackedLinear::deferred(Box::new(Shared(watched.clone())), &bias).unwrap();
    for _ in 0..2 {
        layer.finish_loading().unwrap();
        assert_eq!(watched.releases(), 1);
    }
    let want = PackedLinear::new(&scaled, &bias)
        .unwrap()
        .forward(&x, None)
        .unwrap();
    assert_eq!(values(&layer.forward(&x, None).unwrap()), values(&want));

    let watched = source();
    let layer = Int8Linear::deferred(Box::new(Shared(watched.clone())), Some(&bias)).unwrap();
    for _ in 0..2 {
        layer.finish_loading().unwrap();
        assert_eq!(watched.releases(), 1);
    }
    let want = Int8Linear::new(&scaled, Some(&bias))
        .unwrap()
        .forward(&x, None)
        .unwrap();
    assert_eq!(values(&layer.forward(&x, None).unwrap()), values(&want));
}
