//! Post-processing of segmentation logits matches HF's `post_process_semantic_segmentation`.

use std::path::Path;

use beit::image::post_process_semantic_segmentation;
use beit::{DType, Device, Tensor};

fn expected() -> std::collections::HashMap<String, Tensor> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference/processor/labels_reduce_nearest/expected.safetensors");
    candle_core::safetensors::load(file, &Device::Cpu).unwrap()
}

fn ids(t: &Tensor) -> Vec<i64> {
    t.to_dtype(DType::I64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn resized_to_target_sizes_like_hf() {
    let e = expected();
    let maps = post_process_semantic_segmentation(&e["pp_logits"], Some(&[(31, 17), (9, 7)])).unwrap();
    for (i, map) in maps.iter().enumerate() {
        let want = &e[&format!("pp_segmentation.{i}")];
        assert_eq!(map.dims(), want.dims());
        assert_eq!(ids(map), ids(want), "image {i}");
    }
}

#[test]
fn at_native_resolution_without_sizes() {
    let e = expected();
    let maps = post_process_semantic_segmentation(&e["pp_logits"], None).unwrap();
    let native = Tensor::stack(&maps, 0).unwrap();
    assert_eq!(ids(&native), ids(&e["pp_segmentation_native"]));
}

#[test]
fn sizes_must_match_the_batch() {
    let e = expected();
    let err = post_process_semantic_segmentation(&e["pp_logits"], Some(&[(3, 3)])).unwrap_err();
    assert!(err.to_string().contains("1 sizes for a batch of 2"), "{err}");
}
