//! Every reference case (computed with HF transformers,
//! fp32, eager attention; `mim_abspos_masked`, the Data2Vec-Vision cases `d2v_*` and the DiT-shaped case by
//! scripts/make_reference_case.py) matches through
//! the Rust API within the case's tolerance.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use beit::{Architecture, Device, ForwardInputs, LoadOptions, ModelOutput, Tensor};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference")
}

fn load(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Flattens an output into the reference's key names: `logits`, `hidden_states.3`, ...
fn named_outputs(out: &ModelOutput) -> HashMap<String, Tensor> {
    let mut named = HashMap::new();
    let singles = [
        ("loss", &out.loss),
        ("logits", &out.logits),
        ("last_hidden_state", &out.last_hidden_state),
        ("pooler_output", &out.pooler_output),
        ("predicted_depth", &out.predicted_depth),
    ];
    for (name, t) in singles {
        if let Some(t) = t {
            named.insert(name.to_string(), t.clone());
        }
    }
    let lists = [
        ("hidden_states", &out.hidden_states),
        ("attentions", &out.attentions),
        ("feature_maps", &out.feature_maps),
    ];
    for (name, list) in lists {
        for (i, t) in list.iter().flatten().enumerate() {
            named.insert(format!("{name}.{i}"), t.clone());
        }
    }
    named
}

fn assert_close(case: &str, name: &str, got: &Tensor, want: &Tensor, atol: f64, rtol: f64) {
    // The reference stores the 0-dim loss as [1]; every other output must match in shape.
    if name != "loss" {
        assert_eq!(got.dims(), want.dims(), "{case}: {name} dims");
    }
    let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(got.len(), want.len(), "{case}: {name} element count");
    let mut worst = (0usize, 0f64);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let excess = ((g - w).abs() as f64) - (atol + rtol * (*w as f64).abs());
        if excess > worst.1 || g.is_nan() != w.is_nan() {
            worst = (i, excess.max(f64::MIN_POSITIVE));
        }
    }
    assert!(
        worst.1 <= 0.0,
        "{case}: {name}[{}] = {} but the reference has {} (atol {atol}, rtol {rtol})",
        worst.0,
        got[worst.0],
        want[worst.0]
    );
}

fn run_case(case: &str) {
    let dir = fixtures().join(case);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let arch = Architecture::parse(meta["class"].as_str().unwrap()).unwrap();
    let model = arch.from_pretrained(&dir, &LoadOptions::default()).unwrap();
    let inputs = load(&dir.join("inputs.safetensors"));
    let mut forward = ForwardInputs::new(inputs["pixel_values"].clone());
    forward.bool_masked_pos = inputs.get("bool_masked_pos").cloned();
    forward.labels = inputs.get("labels").cloned();
    forward.interpolate_pos_encoding = meta["forward"]["interpolate_pos_encoding"] == true;
    forward.output_hidden_states = true;
    forward.output_attentions = true;
    let expected = load(&dir.join("expected.safetensors"));
    let atol = meta["tolerance"]["atol"].as_f64().unwrap();
    let rtol = meta["tolerance"]["rtol"].as_f64().unwrap();
    let mut names: Vec<_> = expected.keys().collect();
    names.sort();
    // The first call reads the encoder's weights where the mapped file has them, the second packs
    // them (`PackedLinear::deferred`): both must give the reference.
    for call in ["first", "second"] {
        let got = named_outputs(&model.forward(&forward).unwrap());
        for name in &names {
            let got = got
                .get(*name)
                .unwrap_or_else(|| panic!("{case}: the model returned no {name} ({call} call)"));
            assert_close(case, name, got, &expected[*name], atol, rtol);
        }
        assert_eq!(got.len(), expected.len(), "{case}: outputs {:?}", got.keys());
    }
}

macro_rules! parity {
    ($($case:ident),* $(,)?) => {$(
        #[test]
        fn $case() {
            run_case(stringify!($case));
        }
    )*};
}

parity!(
    cls_relpos_meanpool,
    cls_relpos_other_resolution,
    cls_abspos_clspool_noscale,
    cls_single_label_loss,
    cls_multi_label_loss,
    cls_regression_loss,
    model_shared_relpos_masked,
    mim_shared_relpos,
    mim_abspos_masked,
    seg_upernet_aux,
    backbone_fpn,
    backbone_sequences,
    d2v_model_relpos_masked,
    d2v_cls_shared_relpos,
    d2v_cls_other_resolution,
    d2v_seg_upernet,
    dit_rvlcdip_shaped,
    dpt_beit_depth,
    dpt_beit_depth_odd_grid,
    flax_model_relpos_masked,
    flax_mim_shared_relpos,
    flax_cls_abspos_clspool,
);

/// transformers 5 saves Data2Vec-Vision's segmentation modules under new names (`convolution`,
/// `normalization`, `psp_modules.blocks.{i}.conv`, `psp_bottleneck`); checkpoints saved by 4.x
/// have BEiT's (`conv`, `bn`, `psp_modules.{i}.1`, `bottleneck`). The reference case's weights
/// renamed back give the same logits.
#[test]
fn data2vec_segmentation_reads_the_names_of_transformers_4_too() {
    let case = fixtures().join("d2v_seg_upernet");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(case.join("config.json"), dir.path().join("config.json")).unwrap();
    let legacy = |name: &str| -> String {
        let mut name = name
            .replace(".convolution.", ".conv.")
            .replace(".normalization.", ".bn.")
            .replace("decode_head.psp_bottleneck.", "decode_head.bottleneck.");
        for i in 0..4 {
            name = name.replace(
                &format!("psp_modules.blocks.{i}.conv."),
                &format!("psp_modules.{i}.1."),
            );
        }
        name
    };
    let weights: HashMap<String, Tensor> = load(&case.join("model.safetensors"))
        .into_iter()
        .map(|(name, t)| (legacy(&name), t))
        .collect();
    assert!(weights.contains_key("decode_head.psp_modules.3.1.bn.running_var"));
    candle_core::safetensors::save(&weights, dir.path().join("model.safetensors")).unwrap();

    let arch = Architecture::parse("Data2VecVisionForSemanticSegmentation").unwrap();
    let model = arch.from_pretrained(dir.path(), &LoadOptions::default()).unwrap();
    let inputs = load(&case.join("inputs.safetensors"));
    let out = model
        .forward(&ForwardInputs::new(inputs["pixel_values"].clone()))
        .unwrap();
    let expected = load(&case.join("expected.safetensors"));
    assert_close(
        "legacy names",
        "logits",
        out.logits.as_ref().unwrap(),
        &expected["logits"],
        1e-4,
        1e-4,
    );
}

/// A Data2Vec-Vision config's out_indices are HF's default when absent and are not checked against
/// the layers (as in HF); a segmentation model that cannot find its four feature maps says so.
#[test]
fn data2vec_out_indices_that_miss_the_layers_are_an_error_at_segmentation() {
    let cfg = beit::BeitConfig::from_json_str(
        r#"{"model_type": "data2vec-vision", "hidden_size": 16, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 20, "image_size": 16, "patch_size": 4,
            "auxiliary_channels": 8, "num_labels": 3}"#,
    )
    .unwrap();
    assert_eq!(cfg.out_indices, Some(vec![3, 5, 7, 11]));
    let arch = Architecture::parse("Data2VecVisionForSemanticSegmentation").unwrap();
    let model = arch.from_config(&cfg, &LoadOptions::default()).unwrap();
    let pixels = Tensor::zeros((1, 3, 16, 16), candle_core::DType::F32, &Device::Cpu).unwrap();
    let err = model.forward(&ForwardInputs::new(pixels)).unwrap_err();
    assert_eq!(err.code(), "E_CONFIG");
    assert!(
        err.to_string().contains("select 1 of the 3 hidden states"),
        "{err}"
    );
}
