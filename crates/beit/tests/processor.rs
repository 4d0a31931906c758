//! BeitImageProcessor against HF's (Pillow) output: from the decoded pixels within 1e-6, from
//! PNG files within 1e-6, from JPEG files within 0.05 (6.4 grey levels: decoders' IDCTs differ).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use beit::image::{BeitImageProcessor, ImageProcessorConfig, ImageSource};
use beit::{Device, Tensor};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

struct Case {
    processor: BeitImageProcessor,
    images: Vec<String>,
    expected: HashMap<String, Tensor>,
    decoded: HashMap<String, Tensor>,
}

fn case(name: &str) -> Case {
    let dir = fixtures().join("reference/processor").join(name);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let config = ImageProcessorConfig::from_pretrained(&dir).unwrap();
    Case {
        processor: BeitImageProcessor::new(config),
        images: meta["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect(),
        expected: candle_core::safetensors::load(dir.join("expected.safetensors"), &Device::Cpu).unwrap(),
        decoded: candle_core::safetensors::load(dir.join("decoded_rgb.safetensors"), &Device::Cpu).unwrap(),
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

fn raw(decoded: &Tensor) -> ImageSource {
    let (height, width, channels) = decoded.dims3().unwrap();
    let data = decoded.flatten_all().unwrap().to_vec1::<u8>().unwrap();
    ImageSource::Raw {
        data,
        width,
        height,
        channels,
    }
}

fn check(name: &str) {
    let c = case(name);
    for (i, file) in c.images.iter().enumerate() {
        let want = &c.expected[&format!("pixel_values.{i}")];
        let from_pixels = c
            .processor
            .preprocess(&[raw(&c.decoded[&format!("decoded.{i}")])], None)
            .unwrap();
        let got = from_pixels.pixel_values.get(0).unwrap();
        assert!(
            max_abs_diff(&got, want) <= 1e-6,
            "{name} {file} from decoded pixels"
        );
        let from_file = c
            .processor
            .preprocess(&[ImageSource::Path(fixtures().join("images").join(file))], None);
        let got = from_file.unwrap().pixel_values.get(0).unwrap();
        let tolerance = if file.ends_with(".jpg") { 0.05 } else { 1e-6 };
        let diff = max_abs_diff(&got, want);
        assert!(diff <= tolerance, "{name} {file} from the file: max diff {diff}");
    }
}

#[test]
fn bilinear_to_224() {
    check("cls224_bilinear");
}

#[test]
fn bicubic_to_256_then_center_crop_224() {
    check("resize256_crop224_bicubic");
}

#[test]
fn bicubic_upscale_to_640() {
    check("upscale640_bicubic");
}

/// DPTImageProcessor (`Intel/dpt-beit-*`) keeping the aspect ratio in multiples of 32: each image
/// at its own size (384x384, 256x384, 384x576, 448x384).
#[test]
fn dpt_keeps_the_aspect_ratio_in_multiples_of_32() {
    check("dpt_keep_aspect_multiple32");
}

/// A DPT processor config takes DPT's defaults where it is silent: 384x384, no center crop.
#[test]
fn a_dpt_processor_config_has_dpt_defaults() {
    let cfg =
        ImageProcessorConfig::from_json_str(r#"{"image_processor_type": "DPTImageProcessor"}"#).unwrap();
    assert!(!cfg.do_center_crop);
    assert_eq!(cfg.resize_size((300, 451)), (384, 384));
    let beit = ImageProcessorConfig::from_json_str("{}").unwrap();
    assert!(beit.do_center_crop);
    let err = ImageProcessorConfig::from_json_str(
        r#"{"image_processor_type": "DPTImageProcessor", "do_pad": true, "size_divisor": 32}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("do_pad"), "{err}");
}

#[test]
fn a_batch_is_one_contiguous_tensor_in_input_order() {
    let c = case("cls224_bilinear");
    let sources: Vec<ImageSource> = c
        .images
        .iter()
        .map(|f| ImageSource::Path(fixtures().join("images").join(f)))
        .collect();
    let batch = c.processor.preprocess(&sources, None).unwrap();
    assert_eq!(batch.pixel_values.dims(), [5, 3, 224, 224]);
    assert!(batch.pixel_values.is_contiguous());
    assert_eq!(batch.original_sizes[1], (300, 451));
    let one = c.processor.preprocess(&sources[3..4], None).unwrap();
    assert_eq!(
        max_abs_diff(
            &batch.pixel_values.get(3).unwrap(),
            &one.pixel_values.get(0).unwrap()
        ),
        0.0
    );
}

#[test]
fn label_maps_are_reduced_then_resized_with_nearest() {
    let dir = fixtures().join("reference/processor/labels_reduce_nearest");
    let expected = candle_core::safetensors::load(dir.join("expected.safetensors"), &Device::Cpu).unwrap();
    for (i, size) in [20usize, 24].into_iter().enumerate() {
        for (reduce, key) in [
            (false, "plain_resized_nearest"),
            (true, "reduced_resized_nearest"),
        ] {
            let json = format!(
                r#"{{"size": {{"height": {size}, "width": {size}}}, "do_center_crop": false, "do_reduce_labels": {reduce}}}"#
            );
            let processor = BeitImageProcessor::new(ImageProcessorConfig::from_json_str(&json).unwrap());
            let maps = processor
                .process_label_maps(&[raw(&expected[&format!("label_map.{i}")].unsqueeze(2).unwrap())]);
            let got: Vec<i64> = maps.unwrap()[0].data.iter().map(|&v| v as i64).collect();
            let want: Vec<i64> = expected[&format!("{key}.{i}")]
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(got, want, "{key}.{i}");
        }
    }
}
