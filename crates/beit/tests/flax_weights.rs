//! Flax checkpoints (`flax_model.msgpack`): read only where a checkpoint has no PyTorch weights (as
//! transformers 4.x), and every malformed file an E_WEIGHTS that says where, never a panic or an
//! allocation of what the file declares. Parity with Flax's outputs: tests/parity.rs (`flax_*`).

use std::path::{Path, PathBuf};

use beit::flax_msgpack::read_flax_arrays;
use beit::weights::load_weights;
use beit::{Architecture, BeitError, DType, Device, LoadOptions};

fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
        .join(name)
}

/// A copy of a Flax reference case, whose files a test may then change.
fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "flax_model.msgpack"] {
        std::fs::copy(case(name).join(file), dir.path().join(file)).unwrap();
    }
    dir
}

fn load_error(dir: &Path, class: &str) -> String {
    let arch = Architecture::parse(class).unwrap();
    match arch.from_pretrained(dir, &LoadOptions::default()) {
        Err(e @ BeitError::Weights(_)) => e.to_string(),
        Err(other) => panic!("expected E_WEIGHTS, got {other:?}"),
        Ok(_) => panic!("expected E_WEIGHTS, the model loaded"),
    }
}

/// msgpack by hand: a map of one name to a Flax ndarray record `[shape, dtype, bytes]`.
fn one_array(name: &str, shape: &[u8], dtype: &str, data: &[u8]) -> Vec<u8> {
    let mut record = vec![0x93, 0x90 | shape.len() as u8];
    record.extend_from_slice(shape);
    record.push(0xa0 | dtype.len() as u8);
    record.extend_from_slice(dtype.as_bytes());
    record.extend_from_slice(&[0xc4, data.len() as u8]);
    record.extend_from_slice(data);
    let mut out = vec![0x81, 0xa0 | name.len() as u8];
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&[0xc7, record.len() as u8, 1]);
    out.extend_from_slice(&record);
    out
}

#[test]
fn arrays_are_read_with_their_shape_dtype_and_bytes() {
    let bytes = one_array("w", &[2, 3], "float32", &[0; 24]);
    let arrays = read_flax_arrays(&bytes).unwrap();
    let w = &arrays["w"];
    assert_eq!(
        (w.shape.as_slice(), w.dtype, w.data.len()),
        (&[2, 3][..], DType::F32, 24)
    );
    let bf16 = read_flax_arrays(&one_array("w", &[4], "bfloat16", &[0; 8])).unwrap();
    assert_eq!(bf16["w"].dtype, DType::BF16);
}

#[test]
fn malformed_files_say_what_is_wrong_and_where() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            one_array("w", &[2, 3], "float32", &[0; 20]),
            "shape [2, 3] of F32 needs Some(24) bytes",
        ),
        (
            one_array("w", &[2], "complex64", &[0; 16]),
            "dtype \"complex64\" are not supported",
        ),
        (
            one_array("w", &[2], "float32", &[0; 8])[..20].to_vec(),
            "past the end of the file",
        ),
        (
            vec![0x81, 0xa1, b'w', 0x2a],
            "expected an array, found FixPos(42)",
        ),
        (vec![0x92, 0x01, 0x02], "expected a map of parameters"),
        (
            [&[0x81, 0xb9][..], b"__msgpack_chunked_array__", &[0xc3]].concat(),
            "saved in chunks: not supported",
        ),
        (
            [one_array("w", &[1], "float32", &[0; 4]), vec![0]].concat(),
            "1 bytes follow the tree",
        ),
    ];
    for (bytes, expected) in cases {
        let err = read_flax_arrays(&bytes).unwrap_err();
        assert!(matches!(err, BeitError::Weights(_)), "{err:?}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    // 40 nested maps, deeper than any parameter tree.
    let mut deep = [0x81, 0xa1, b'a'].repeat(40);
    deep.extend(one_array("w", &[1], "float32", &[0; 4]));
    assert!(read_flax_arrays(&deep)
        .unwrap_err()
        .to_string()
        .contains("deeper than 32"));
}

/// Every prefix and a sample of byte flips of a real checkpoint: an error or arrays, never a panic.
#[test]
fn corrupted_real_files_give_errors_or_arrays() {
    let bytes = std::fs::read(case("flax_cls_abspos_clspool").join("flax_model.msgpack")).unwrap();
    for end in (0..bytes.len()).step_by(97) {
        assert!(read_flax_arrays(&bytes[..end]).is_err() || end == 0);
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..2000 {
        let mut copy = bytes.clone();
        for _ in 0..3 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            copy[(state % bytes.len() as u64) as usize] = (state >> 32) as u8;
        }
        let _ = read_flax_arrays(&copy);
    }
}

#[test]
fn a_missing_parameter_is_named() {
    let dir = copy_of("flax_cls_abspos_clspool");
    let file = dir.path().join("flax_model.msgpack");
    let bytes = std::fs::read(&file).unwrap();
    let at = bytes.windows(10).position(|w| w == b"classifier").unwrap();
    let mut renamed = bytes.clone();
    renamed[at + 9] = b'X';
    std::fs::write(&file, renamed).unwrap();
    let msg = load_error(dir.path(), "BeitForImageClassification");
    assert!(msg.contains("classifier.weight"), "{msg}");
}

#[test]
fn a_mis_shaped_parameter_is_named_with_both_shapes() {
    let dir = copy_of("flax_cls_abspos_clspool");
    let config_file = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_file).unwrap()).unwrap();
    config["id2label"] = serde_json::json!({"0": "a", "1": "b", "2": "c", "3": "d", "4": "e", "5": "f"});
    config["label2id"] = serde_json::json!({"a": 0, "b": 1, "c": 2, "d": 3, "e": 4, "f": 5});
    std::fs::write(&config_file, config.to_string()).unwrap();
    let msg = load_error(dir.path(), "BeitForImageClassification");
    assert!(
        msg.contains("classifier.weight") && msg.contains("[5, 32]") && msg.contains("[6, 32]"),
        "{msg}"
    );
}

/// As transformers 4.x: PyTorch weights first; Flax weights only when a checkpoint has nothing else.
#[test]
fn flax_weights_are_read_only_without_pytorch_weights() {
    let dir = copy_of("flax_cls_abspos_clspool");
    assert!(load_weights(dir.path(), DType::F32, &Device::Cpu).is_ok());
    std::fs::copy(
        case("cls_abspos_clspool_noscale").join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    std::fs::write(dir.path().join("flax_model.msgpack"), b"not msgpack").unwrap();
    let weights = load_weights(dir.path(), DType::F32, &Device::Cpu).unwrap();
    assert!(weights.vb.contains_tensor("beit.embeddings.cls_token"));
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let err = load_weights(dir.path(), DType::F32, &Device::Cpu).err().unwrap();
    assert!(err.to_string().contains("flax_model.msgpack"), "{err}");
}
