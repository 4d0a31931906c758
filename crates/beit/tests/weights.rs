//! Weights in every hub format load to the same model; broken or incomplete weights give an error
//! that names the file or the tensor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use beit::{
    BeitError, BeitForImageClassification, BeitPreTrainedModel, Device, ForwardInputs, LoadOptions, Tensor,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn reference_case() -> PathBuf {
    fixtures().join("reference/cls_relpos_meanpool")
}

fn reference_tensors() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(reference_case().join("model.safetensors"), &Device::Cpu).unwrap()
}

fn load(dir: &Path) -> beit::Result<BeitForImageClassification> {
    BeitForImageClassification::from_pretrained(dir, &LoadOptions::default())
}

fn logits(model: &BeitForImageClassification) -> Vec<f32> {
    let inputs =
        candle_core::safetensors::load(reference_case().join("inputs.safetensors"), &Device::Cpu).unwrap();
    let out = model
        .forward(&ForwardInputs::new(inputs["pixel_values"].clone()))
        .unwrap();
    out.logits.unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

/// A checkpoint directory with the reference config and the given tensors as model.safetensors.
fn checkpoint_with(tensors: &HashMap<String, Tensor>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        reference_case().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    candle_core::safetensors::save(tensors, dir.path().join("model.safetensors")).unwrap();
    dir
}

fn weights_error(result: beit::Result<BeitForImageClassification>) -> String {
    match result {
        Err(e @ BeitError::Weights(_)) => e.to_string(),
        Err(other) => panic!("expected a weights error, got {other:?}"),
        Ok(_) => panic!("expected a weights error, the model loaded"),
    }
}

#[test]
fn pytorch_bin_loads_the_same_model_as_safetensors() {
    let reference = logits(&load(&reference_case()).unwrap());
    let from_bin = logits(&load(&fixtures().join("pytorch")).unwrap());
    assert_eq!(reference, from_bin);
}

#[test]
fn sharded_safetensors_load_and_ignore_index_buffers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        reference_case().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let mut names: Vec<String> = reference_tensors().keys().cloned().collect();
    names.sort();
    let all = reference_tensors();
    let (first, second) = names.split_at(names.len() / 2);
    let mut weight_map = serde_json::Map::new();
    for (file, part) in [
        ("model-00001-of-00002.safetensors", first),
        ("model-00002-of-00002.safetensors", second),
    ] {
        let mut shard: HashMap<String, Tensor> = part.iter().map(|n| (n.clone(), all[n].clone())).collect();
        if file.starts_with("model-00001") {
            // Buffers real hub checkpoints carry and HF ignores on load.
            let index = Tensor::zeros((5, 5), candle_core::DType::I64, &Device::Cpu).unwrap();
            shard.insert(
                "beit.encoder.layer.0.attention.attention.relative_position_bias.relative_position_index"
                    .into(),
                index,
            );
            let tracked = Tensor::zeros((), candle_core::DType::I64, &Device::Cpu).unwrap();
            shard.insert("decode_head.bn.num_batches_tracked".into(), tracked);
        }
        for name in shard.keys() {
            weight_map.insert(name.clone(), file.into());
        }
        candle_core::safetensors::save(&shard, dir.path().join(file)).unwrap();
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(dir.path().join("model.safetensors.index.json"), index.to_string()).unwrap();
    let reference = logits(&load(&reference_case()).unwrap());
    assert_eq!(reference, logits(&load(dir.path()).unwrap()));
}

#[test]
fn a_missing_shard_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        reference_case().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let index = serde_json::json!({ "weight_map": { "classifier.weight": "model-00009.safetensors" } });
    std::fs::write(dir.path().join("model.safetensors.index.json"), index.to_string()).unwrap();
    assert!(weights_error(load(dir.path())).contains("model-00009.safetensors"));
}

#[test]
fn a_missing_tensor_is_named() {
    let mut tensors = reference_tensors();
    tensors.remove("beit.encoder.layer.1.attention.output.dense.weight");
    let dir = checkpoint_with(&tensors);
    let msg = weights_error(load(dir.path()));
    assert!(
        msg.contains("beit.encoder.layer.1.attention.output.dense.weight"),
        "{msg}"
    );
}

#[test]
fn a_misshaped_tensor_is_named() {
    let mut tensors = reference_tensors();
    tensors.insert(
        "classifier.weight".into(),
        Tensor::zeros((3, 32), candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    let dir = checkpoint_with(&tensors);
    let msg = weights_error(load(dir.path()));
    assert!(
        msg.contains("classifier.weight") && msg.contains("shape"),
        "{msg}"
    );
}

#[test]
fn a_truncated_file_is_an_error() {
    let dir = checkpoint_with(&reference_tensors());
    let file = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let msg = weights_error(load(dir.path()));
    assert!(msg.contains("model.safetensors"), "{msg}");
}

#[test]
fn a_corrupted_file_is_an_error() {
    for name in ["model.safetensors", "pytorch_model.bin"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            reference_case().join("config.json"),
            dir.path().join("config.json"),
        )
        .unwrap();
        std::fs::write(dir.path().join(name), b"this is not a weights file at all").unwrap();
        let msg = weights_error(load(dir.path()));
        assert!(msg.contains(name), "{msg}");
    }
}

#[test]
fn a_directory_without_weights_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        reference_case().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let msg = weights_error(load(dir.path()));
    assert!(msg.contains("no weights"), "{msg}");
}

#[test]
fn the_base_model_loads_from_a_head_checkpoint() {
    let inputs =
        candle_core::safetensors::load(reference_case().join("inputs.safetensors"), &Device::Cpu).unwrap();
    let mut forward = ForwardInputs::new(inputs["pixel_values"].clone());
    forward.output_hidden_states = true;
    let base = beit::BeitModel::from_pretrained(reference_case(), &LoadOptions::default()).unwrap();
    let head = load(&reference_case()).unwrap();
    let sequence = base.forward(&forward).unwrap().last_hidden_state.unwrap();
    let last = head
        .forward(&forward)
        .unwrap()
        .hidden_states
        .unwrap()
        .pop()
        .unwrap();
    // With mean pooling there is no final LayerNorm: the sequence output is the last layer's.
    let same: Vec<f32> = (sequence - last)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(same.iter().all(|d| *d == 0.0));
}

#[test]
fn a_misshaped_encoder_weight_is_named() {
    // The encoder's linear weights are read straight from the mapped file, past candle's checks.
    let name = "beit.encoder.layer.1.intermediate.dense.weight";
    let mut tensors = reference_tensors();
    let (rows, cols) = tensors[name].dims2().unwrap();
    tensors.insert(
        name.into(),
        Tensor::zeros((rows, cols + 1), candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    let msg = weights_error(load(checkpoint_with(&tensors).path()));
    assert!(msg.contains(name) && msg.contains("shape"), "{msg}");
}

#[test]
fn a_float16_checkpoint_loads_as_its_float32_values() {
    // Float16 weights take the copying path, float32 ones the direct one: same values, same model.
    let cast = |dtype| {
        let tensors: HashMap<String, Tensor> = reference_tensors()
            .into_iter()
            .map(|(name, t)| {
                (
                    name,
                    t.to_dtype(candle_core::DType::F16)
                        .unwrap()
                        .to_dtype(dtype)
                        .unwrap(),
                )
            })
            .collect();
        checkpoint_with(&tensors)
    };
    let half = cast(candle_core::DType::F16);
    let single = cast(candle_core::DType::F32);
    assert_eq!(
        logits(&load(half.path()).unwrap()),
        logits(&load(single.path()).unwrap())
    );
}

#[test]
fn a_model_in_float16_computes_what_float32_does() {
    // Other dtypes and devices keep plain weight tensors (`Dense::Float`), not packed ones.
    let options = LoadOptions {
        dtype: candle_core::DType::F16,
        ..LoadOptions::default()
    };
    let model = BeitForImageClassification::from_pretrained(reference_case(), &options).unwrap();
    let inputs =
        candle_core::safetensors::load(reference_case().join("inputs.safetensors"), &Device::Cpu).unwrap();
    let pixels = inputs["pixel_values"].to_dtype(candle_core::DType::F16).unwrap();
    let out = model
        .forward(&ForwardInputs::new(pixels))
        .unwrap()
        .logits
        .unwrap();
    let half: Vec<f32> = out
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let reference = logits(&load(&reference_case()).unwrap());
    let worst = half
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-2, "{half:?} vs {reference:?}");
}

#[test]
fn a_shard_outside_the_checkpoint_folder_is_refused() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("checkpoint");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(reference_case().join("config.json"), dir.join("config.json")).unwrap();
    // A complete checkpoint, one level up: the index must not reach it.
    candle_core::safetensors::save(&reference_tensors(), outer.path().join("outside.safetensors")).unwrap();
    for name in [
        "../outside.safetensors",
        "/etc/passwd",
        "a/../../outside.safetensors",
        "",
    ] {
        let index = serde_json::json!({ "weight_map": { "classifier.weight": name } });
        std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
        let msg = weights_error(load(&dir));
        assert!(
            msg.contains("not a file name inside the checkpoint's folder"),
            "{name}: {msg}"
        );
    }
}

#[test]
fn a_shard_index_over_the_size_limit_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        reference_case().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    // Sparse, one byte over the limit (an index of any size used to be read whole into memory).
    let index = std::fs::File::create(dir.path().join("model.safetensors.index.json")).unwrap();
    index.set_len(beit::weights::MAX_INDEX_BYTES + 1).unwrap();
    let msg = weights_error(load(dir.path()));
    assert!(msg.contains("more than the limit of"), "{msg}");
}

#[test]
fn a_checkpoint_rewritten_while_loading_is_detected() {
    for name in ["model.safetensors", "pytorch_model.bin"] {
        let dir = tempfile::tempdir().unwrap();
        let source = if name == "pytorch_model.bin" {
            fixtures().join("pytorch")
        } else {
            reference_case()
        };
        let file = dir.path().join(name);
        std::fs::copy(source.join(name), &file).unwrap();
        let weights = beit::weights::load_weights(dir.path(), candle_core::DType::F32, &Device::Cpu).unwrap();
        weights.check_unchanged().unwrap();
        // Rewritten in place (as `cp` or `save_pretrained` do), then replaced by a rename.
        std::fs::write(&file, b"new").unwrap();
        let msg = weights.check_unchanged().unwrap_err().to_string();
        assert!(
            msg.contains("changed on disk while the model was loading"),
            "{msg}"
        );
        assert!(msg.contains(name), "{msg}");
        std::fs::copy(source.join(name), &file).unwrap();
        let weights = beit::weights::load_weights(dir.path(), candle_core::DType::F32, &Device::Cpu).unwrap();
        let replacement = dir.path().join("replacement");
        std::fs::copy(source.join(name), &replacement).unwrap();
        std::fs::rename(&replacement, &file).unwrap();
        assert!(weights.check_unchanged().is_err(), "{name}: replaced by a rename");
    }
}
