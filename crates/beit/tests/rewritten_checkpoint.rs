//! A loaded model keeps its weights when its checkpoint file is truncated, rewritten in place
//! (`cp`, `save_pretrained` over the directory) or replaced by a rename: the load leaves nothing
//! to read from the file afterwards. Before, encoder weights were read from the memory map until
//! packed, and the next forward pass died of SIGBUS; so the cases run in a child process, which
//! must exit normally.

#![cfg(target_os = "linux")]

#[path = "support/child.rs"]
mod child;

use std::path::{Path, PathBuf};

use beit::{
    BeitForImageClassification, BeitPreTrainedModel, Device, ForwardInputs, LoadOptions, Quantization, Tensor,
};

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/beit-digits")
}

fn load(dir: &Path, options: &LoadOptions) -> BeitForImageClassification {
    BeitForImageClassification::from_pretrained(dir, options).unwrap()
}

/// float32 (packed weights) and q8 (quantized ones): both used to read the map after the load.
fn precisions() -> [LoadOptions; 2] {
    let q8 = LoadOptions {
        quantization: Some(Quantization::Int8),
        ..LoadOptions::default()
    };
    [LoadOptions::default(), q8]
}

fn logits(model: &BeitForImageClassification) -> Vec<f32> {
    let pixels = Tensor::arange(0f32, 3.0 * 32.0 * 32.0, &Device::Cpu)
        .and_then(|t| t.reshape((1, 3, 32, 32)))
        .and_then(|t| t.affine(1.0 / 3072.0, -0.5))
        .unwrap();
    let out = model.forward(&ForwardInputs::new(pixels)).unwrap();
    out.logits.unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

/// A copy of the digits checkpoint, and the path of its weights file.
fn copy_of_digits() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for name in ["config.json", "model.safetensors"] {
        std::fs::copy(digits().join(name), dir.path().join(name)).unwrap();
    }
    let weights = dir.path().join("model.safetensors");
    (dir, weights)
}

/// A change to the weights file, and what it is.
type Rewrite = (&'static str, fn(&Path));

/// What users do to a checkpoint directory while a model from it is loaded.
fn rewrites() -> [Rewrite; 3] {
    [
        ("truncated", |file| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(file)
                .unwrap()
                .set_len(0)
                .unwrap()
        }),
        ("rewritten in place, shorter", |file| {
            std::fs::write(file, vec![7u8; 1000]).unwrap()
        }),
        ("replaced by a rename", |file| {
            let new = file.with_extension("new");
            std::fs::write(&new, vec![7u8; 1000]).unwrap();
            std::fs::rename(new, file).unwrap();
        }),
    ]
}

#[test]
fn a_loaded_model_survives_its_checkpoint_being_rewritten() {
    const TEST: &str = "a_loaded_model_survives_its_checkpoint_being_rewritten";
    if !child::is_child(TEST) {
        let output = child::run_child(TEST);
        let report = child::describe(&output);
        assert!(output.status.success(), "the child failed: {report}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(child::printed(&stdout, "survived"), Some("6"), "{report}");
        return;
    }
    let mut survived = 0;
    for options in precisions() {
        let expected = logits(&load(&digits(), &options));
        for (what, rewrite) in rewrites() {
            let (_dir, file) = copy_of_digits();
            let model = load(file.parent().unwrap(), &options);
            rewrite(&file);
            // Two calls (the second used to pack from the map), then after the queue's idle step.
            assert_eq!(logits(&model), expected, "{what}: first call");
            assert_eq!(logits(&model), expected, "{what}: second call");
            model.finish_loading().unwrap();
            assert_eq!(logits(&model), expected, "{what}: after finishing the load");
            survived += 1;
        }
    }
    println!("survived={survived}");
}
