//! Every reference case (computed with HF transformers,
//! fp32, eager attention; `mim_abspos_masked` by scripts/make_reference_case.py) matches through
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
);
