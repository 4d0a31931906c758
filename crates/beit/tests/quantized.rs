//! The q8 path (int8 linear layers in the encoder) on a reference checkpoint: close to the fp32
//! logits HF computed, with the same ranking of the top labels, and refused where it cannot run.

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
