//! The q8 path (int8 linear layers in the encoder) on a reference checkpoint: close to the fp32
//! logits HF computed, with the same ranking of the top labels, and refused where it cannot run;
//! NaN and infinities propagate as NaN, as through the fp32 path, and cost no other image its result.

use std::collections::HashMap;
use std::path::Path;

use beit::{
    Architecture, BeitPreTrainedModel, DType, Device, ForwardInputs, LoadOptions, Quantization, Tensor,
};

const CASE: &str = "tests/fixtures/reference/cls_relpos_meanpool";

fn q8() -> LoadOptions {
    LoadOptions {
        quantization: Some(Quantization::Int8),
        ..LoadOptions::default()
    }
}

/// The mean over rows of each row's largest magnitude.
fn mean_row_max(t: &Tensor) -> f32 {
    let row_max = t.abs().unwrap().max_keepdim(1).unwrap();
    row_max.mean_all().unwrap().to_scalar().unwrap()
}

#[test]
fn q8_logits_stay_close_to_the_fp32_reference() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(CASE);
    let inputs: HashMap<String, Tensor> =
        candle_core::safetensors::load(dir.join("inputs.safetensors"), &Device::Cpu).unwrap();
    let expected: HashMap<String, Tensor> =
        candle_core::safetensors::load(dir.join("expected.safetensors"), &Device::Cpu).unwrap();
    let model = Architecture::BeitForImageClassification
        .from_pretrained(&dir, &q8())
        .unwrap();
    let logits = || {
        let inputs = ForwardInputs::new(inputs["pixel_values"].clone());
        model.forward(&inputs).unwrap().logits.unwrap()
    };
    // The first call quantizes each tile as it goes, the second quantizes the weights for good.
    let (got, again) = (logits(), logits());
    assert_eq!(
        got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        again.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    let want = &expected["logits"];
    let (scale, err) = (mean_row_max(want), mean_row_max(&(&got - want).unwrap()));
    assert!(err > 0.0, "the q8 path computed in f32");
    assert!(
        err < 0.05 * scale,
        "q8 logits off by {err} against a logit scale of {scale}"
    );
    assert_eq!(
        got.argmax(1).unwrap().to_vec1::<u32>().unwrap(),
        want.argmax(1).unwrap().to_vec1::<u32>().unwrap()
    );
}

#[test]
fn q8_needs_the_cpu_and_float32() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(CASE);
    let options = LoadOptions {
        dtype: DType::F16,
        ..q8()
    };
    let err = beit::BeitForImageClassification::from_pretrained(&dir, &options)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("q8 runs on the CPU from float32 weights"), "{err}");
    assert_eq!(
        beit::parse_precision("q8").unwrap(),
        (DType::F32, Some(Quantization::Int8))
    );
    assert_eq!(beit::parse_precision("bf16").unwrap(), (DType::BF16, None));
    let err = beit::parse_precision("fp8").unwrap_err().to_string();
    assert!(err.contains("'bfloat16' or 'q8'"), "{err}");
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    t.flatten_to(t.rank() - 2).unwrap().to_vec2().unwrap()
}

/// `[rows, n]` values from a formula, with `specials` set at their `(row, column)`.
fn matrix(rows: usize, n: usize, specials: &[(usize, usize, f32)]) -> Vec<f32> {
    let mut m: Vec<f32> = (0..rows * n)
        .map(|i| ((i * 37) % 17) as f32 * 0.125 - 1.0)
        .collect();
    for &(r, c, v) in specials {
        m[r * n + c] = v;
    }
    m
}

#[test]
fn nan_and_infinite_activations_and_weights_give_nan_in_their_rows_and_channels_through_the_q8_linear() {
    use beit::ops::int8_linear::Int8Linear;
    // 40 inputs (five of the kernel's groups, with padding) and 35 channels (two whole tiles of 16
    // through the AVX2 kernel where there is one, and a partial tile through the portable path).
    let (n_in, n_out, n_rows) = (40, 35, 9);
    let bad_channels = [
        (3, 5, f32::NAN),
        (17, 0, f32::INFINITY),
        (33, 39, f32::NEG_INFINITY),
    ];
    let bad_rows = [
        (1, 0, f32::NAN),
        (4, 20, f32::INFINITY),
        (8, 39, f32::NEG_INFINITY),
    ];
    let w = matrix(n_out, n_in, &bad_channels);
    let x = matrix(n_rows, n_in, &bad_rows);
    let weight = Tensor::from_vec(w.clone(), (n_out, n_in), &Device::Cpu).unwrap();
    let bias = Tensor::from_vec(vec![0.25f32; n_out], n_out, &Device::Cpu).unwrap();
    let layer = Int8Linear::new(&weight, Some(&bias)).unwrap();
    let xs = Tensor::from_vec(x.clone(), (1, n_rows, n_in), &Device::Cpu).unwrap();
    let residual = Tensor::ones((1, n_rows, n_out), DType::F32, &Device::Cpu).unwrap();
    for residual in [None, Some(&residual)] {
        let out = rows(&layer.forward(&xs, residual).unwrap());
        for (r, row) in out.iter().enumerate() {
            for (c, &y) in row.iter().enumerate() {
                let nan_row = bad_rows.iter().any(|b| b.0 == r);
                let nan_channel = bad_channels.iter().any(|b| b.0 == c);
                if nan_row || nan_channel {
                    assert!(y.is_nan(), "out[{r}][{c}] = {y}: NaN expected");
                    continue;
                }
                let f32_result: f32 = (0..n_in).map(|k| x[r * n_in + k] * w[c * n_in + k]).sum::<f32>()
                    + 0.25
                    + if residual.is_some() { 1.0 } else { 0.0 };
                assert!(
                    (y - f32_result).abs() < 0.1,
                    "out[{r}][{c}] = {y}, the f32 layer gives {f32_result}"
                );
            }
        }
    }
}

#[test]
fn a_nan_pixel_makes_its_own_image_nan_in_q8_as_in_fp32_and_spares_the_others() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(CASE);
    let inputs: HashMap<String, Tensor> =
        candle_core::safetensors::load(dir.join("inputs.safetensors"), &Device::Cpu).unwrap();
    let pixels = &inputs["pixel_values"];
    let poisoned = pixels
        .slice_assign(
            &[0..1, 1..2, 5..6, 7..8],
            &Tensor::full(f32::NAN, (1, 1, 1, 1), &Device::Cpu).unwrap(),
        )
        .unwrap();
    for options in [LoadOptions::default(), q8()] {
        let model = Architecture::BeitForImageClassification
            .from_pretrained(&dir, &options)
            .unwrap();
        let logits = |p: &Tensor| {
            rows(
                &model
                    .forward(&ForwardInputs::new(p.clone()))
                    .unwrap()
                    .logits
                    .unwrap(),
            )
        };
        let got = logits(&poisoned);
        let precision = if options.quantization.is_some() {
            "q8"
        } else {
            "fp32"
        };
        assert!(got[0].iter().all(|v| v.is_nan()), "{precision}: {:?}", got[0]);
        let alone = logits(&pixels.narrow(0, 1, 1).unwrap());
        assert_eq!(got[1], alone[0], "{precision}: the other image's logits");
    }
}
