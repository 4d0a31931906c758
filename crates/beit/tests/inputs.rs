//! Inputs that do not fit the model give shape errors before any computation; a model built from
//! a config alone runs at any resolution.

use std::path::Path;

use beit::{
    BeitConfig, BeitForImageClassification, BeitModel, BeitPreTrainedModel, DType, Device, ForwardInputs,
    LoadOptions, Tensor,
};

fn model() -> BeitForImageClassification {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/cls_relpos_meanpool");
    BeitForImageClassification::from_pretrained(dir, &LoadOptions::default()).unwrap()
}

fn shape_error(model: &dyn BeitPreTrainedModel, inputs: ForwardInputs) -> String {
    let err = model.forward(&inputs).unwrap_err();
    assert_eq!(err.code(), "E_SHAPE", "{err}");
    err.to_string()
}

fn zeros(dims: &[usize], dtype: DType) -> Tensor {
    Tensor::zeros(dims, dtype, &Device::Cpu).unwrap()
}

#[test]
fn pixel_values_are_checked() {
    let m = model();
    assert!(shape_error(&m, ForwardInputs::new(zeros(&[3, 32, 32], DType::F32))).contains("4 dims"));
    assert!(shape_error(&m, ForwardInputs::new(zeros(&[1, 1, 32, 32], DType::F32))).contains("1 channels"));
    assert!(shape_error(&m, ForwardInputs::new(zeros(&[1, 3, 2, 32], DType::F32))).contains("patch"));
    assert!(shape_error(&m, ForwardInputs::new(zeros(&[0, 3, 32, 32], DType::F32))).contains("batch of 0"));
    assert!(shape_error(&m, ForwardInputs::new(zeros(&[1, 3, 32, 32], DType::U8))).contains("float32"));
}

#[test]
fn labels_are_checked() {
    let m = model();
    let mut inputs = ForwardInputs::new(zeros(&[2, 3, 32, 32], DType::F32));
    inputs.labels = Some(Tensor::new(&[0i64, 9], &Device::Cpu).unwrap());
    assert!(shape_error(&m, inputs.clone()).contains("out of range"));
    inputs.labels = Some(Tensor::new(&[0i64, 1, 2], &Device::Cpu).unwrap());
    assert!(shape_error(&m, inputs.clone()).contains("3 elements"));
    inputs.labels = Some(zeros(&[2, 3], DType::F32));
    assert!(shape_error(&m, inputs).contains("labels have dims"));
}

#[test]
fn a_mask_needs_a_mask_token() {
    let m = model();
    let mut inputs = ForwardInputs::new(zeros(&[1, 3, 32, 32], DType::F32));
    inputs.bool_masked_pos = Some(zeros(&[1, 64], DType::U8));
    let err = m.forward(&inputs).unwrap_err();
    assert!(err.to_string().contains("use_mask_token"), "{err}");
}

#[test]
fn a_random_model_from_config_runs_at_any_resolution() {
    let cfg = BeitConfig::from_json_str(
        r#"{"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 20,
            "image_size": 16, "patch_size": 4, "use_relative_position_bias": true,
            "use_shared_relative_position_bias": true, "use_absolute_position_embeddings": true,
            "use_mask_token": true}"#,
    )
    .unwrap();
    let model = BeitModel::from_config(&cfg, &LoadOptions::default()).unwrap();
    let mut inputs = ForwardInputs::new(Tensor::randn(0f32, 1.0, (2, 3, 20, 12), &Device::Cpu).unwrap());
    inputs.bool_masked_pos = Some(zeros(&[2, 15], DType::U8));
    let out = model.forward(&inputs).unwrap();
    assert_eq!(out.last_hidden_state.unwrap().dims(), [2, 16, 16]);
    assert_eq!(out.pooler_output.unwrap().dims(), [2, 16]);
    inputs.bool_masked_pos = Some(zeros(&[2, 16], DType::U8));
    assert!(shape_error(&model, inputs).contains("boolMaskedPos"));
}
