//! `dtype: 'bfloat16'` on the CPU: the encoder's linear layers in bf16 (`Quantization::Bfloat16`),
//! the rest in f32, close to the fp32 logits HF computed with the same ranking of the top labels.

use std::collections::HashMap;
use std::path::Path;

use beit::{
    Architecture, BeitPreTrainedModel, DType, Device, ForwardInputs, LoadOptions, Quantization, Tensor,
};

const CASES: [&str; 3] = [
    "cls_relpos_meanpool",
    "cls_abspos_clspool_noscale",
    "cls_relpos_other_resolution",
];

fn bf16() -> LoadOptions {
    LoadOptions {
        dtype: DType::BF16,
        ..LoadOptions::default()
    }
}

/// The mean over rows of each row's largest magnitude.
fn mean_row_max(t: &Tensor) -> f32 {
    let row_max = t.abs().unwrap().max_keepdim(1).unwrap();
    row_max.mean_all().unwrap().to_scalar().unwrap()
}

#[test]
fn bf16_logits_stay_close_to_the_fp32_reference() {
    for case in CASES {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/reference")
            .join(case);
        let load = |name: &str| -> HashMap<String, Tensor> {
            candle_core::safetensors::load(dir.join(name), &Device::Cpu).unwrap()
        };
        let (inputs, expected) = (load("inputs.safetensors"), load("expected.safetensors"));
        let model = Architecture::BeitForImageClassification
            .from_pretrained(&dir, &bf16())
            .unwrap();
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        let mut forward = ForwardInputs::new(inputs["pixel_values"].clone());
        forward.interpolate_pos_encoding = meta["forward"]["interpolate_pos_encoding"] == true;
        let got = model.forward(&forward).unwrap().logits.unwrap();
        assert_eq!(got.dtype(), DType::F32, "{case}: bf16 on the CPU answers in f32");
        let want = &expected["logits"];
        let (scale, err) = (mean_row_max(want), mean_row_max(&(&got - want).unwrap()));
        assert!(err > 0.0, "{case}: the bf16 path computed in f32");
        assert!(
            err < 0.02 * scale,
            "{case}: bf16 logits off by {err} against a logit scale of {scale}"
        );
        assert_eq!(
            got.argmax(1).unwrap().to_vec1::<u32>().unwrap(),
            want.argmax(1).unwrap().to_vec1::<u32>().unwrap(),
            "{case}"
        );
    }
}

#[test]
fn bfloat16_on_the_cpu_is_float32_with_bf16_linear_layers() {
    let resolved = bf16().resolved();
    assert_eq!(
        (resolved.dtype, resolved.quantization),
        (DType::F32, Some(Quantization::Bfloat16))
    );
    let f16 = LoadOptions {
        dtype: DType::F16,
        ..LoadOptions::default()
    };
    assert_eq!(f16.resolved().dtype, DType::F16);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/cls_relpos_meanpool");
    let options = LoadOptions {
        quantization: Some(Quantization::Bfloat16),
        ..f16
    };
    let err = beit::BeitForImageClassification::from_pretrained(&dir, &options)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("ask for dtype 'bfloat16'"), "{err}");
}
