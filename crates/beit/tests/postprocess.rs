//! Post-processing of segmentation logits matches HF's `post_process_semantic_segmentation`, and
//! of predicted depth DPTImageProcessor's `post_process_depth_estimation` and the depth pipeline's
//! 8-bit picture.

use std::path::Path;

use beit::image::{depth_to_u8, post_process_depth_estimation, post_process_semantic_segmentation};
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

#[test]
fn depth_resized_to_target_sizes_and_pictured_like_hf() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/dpt_beit_depth");
    let load = |f: &str| candle_core::safetensors::load(case.join(f), &Device::Cpu).unwrap();
    let (predicted, want) = (load("expected.safetensors"), load("post_processed.safetensors"));
    let depths =
        post_process_depth_estimation(&predicted["predicted_depth"], Some(&[(50, 70), (130, 90)])).unwrap();
    for (i, depth) in depths.iter().enumerate() {
        let expected = &want[&format!("depth.{i}")];
        assert_eq!(depth.dims(), expected.dims());
        let diff: f32 = (depth - expected)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(diff < 1e-4, "depth {i}: {diff}");
        let picture: Vec<u8> = want[&format!("picture.{i}")]
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(depth_to_u8(depth).unwrap(), picture, "picture {i}");
    }
    let unresized = post_process_depth_estimation(&predicted["predicted_depth"], None).unwrap();
    assert_eq!(unresized[1].dims(), [64, 96]);
    let err = post_process_depth_estimation(&predicted["predicted_depth"], Some(&[(5, 5)])).unwrap_err();
    assert!(err.to_string().contains("one [height, width] per image"), "{err}");
}
