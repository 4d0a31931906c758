//! Hostile inputs are refused before anything is allocated for them (`beit::limits`): each case
//! runs in a child process under an address-space cap, so without its check it would die of a
//! failed allocation (or take gigabytes) instead of returning the error asserted here.

#[path = "support/child.rs"]
mod child;

use std::path::Path;

use beit::image::post_process_semantic_segmentation;
use beit::image::{BeitImageProcessor, ImageProcessorConfig, ImageSource};
use beit::{limits, BeitConfig, BeitError, BeitForImageClassification, BeitPreTrainedModel};
use beit::{DType, Device, ForwardInputs, LoadOptions, Tensor};
use child::in_child;

fn expect_code<T: std::fmt::Debug>(result: beit::Result<T>, code: &str, says: &[&str]) -> String {
    let err: BeitError = result.expect_err("the input is refused");
    assert_eq!(err.code(), code, "{err}");
    let message = err.to_string();
    for part in says {
        assert!(message.contains(part), "{message:?} does not say {part:?}");
    }
    message
}

fn preprocess(source: ImageSource) -> beit::Result<beit::image::ProcessedBatch> {
    BeitImageProcessor::new(ImageProcessorConfig::default()).preprocess(&[source], None)
}

#[test]
fn config_sizes_are_bounded_before_anything_is_built_from_them() {
    in_child(
        "config_sizes_are_bounded_before_anything_is_built_from_them",
        2,
        200,
        || {
            let layers = BeitConfig::from_json_str(r#"{"num_hidden_layers": 1000000000}"#);
            expect_code(
                layers,
                "E_CONFIG",
                &["num_hidden_layers", "1000000000", "limit of 256"],
            );
            let labels = BeitConfig::from_json_str(r#"{"num_labels": 1000000000}"#);
            expect_code(labels, "E_CONFIG", &["num_labels", "limit"]);
            let scales = BeitConfig::from_json_str(r#"{"pool_scales": [1, 2, 100000]}"#);
            expect_code(scales, "E_CONFIG", &["pool_scales", "100000"]);
            let tokens = BeitConfig::from_json_str(r#"{"image_size": 8192, "patch_size": 16}"#);
            expect_code(tokens, "E_CONFIG", &["262145 tokens", "maxTokens"]);
        },
    );
}

#[test]
fn a_config_file_larger_than_any_config_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let padding = " ".repeat(limits::MAX_CONFIG_FILE_BYTES as usize + 1);
    std::fs::write(
        dir.path().join("config.json"),
        format!("{{\"model_type\": \"beit\"}}{padding}"),
    )
    .unwrap();
    expect_code(
        BeitConfig::from_pretrained(dir.path()),
        "E_CONFIG",
        &["over the limit"],
    );
}

#[test]
fn processor_sizes_are_bounded() {
    let huge = r#"{"size": {"height": 1000000, "width": 1000000}}"#;
    expect_code(
        ImageProcessorConfig::from_json_str(huge),
        "E_CONFIG",
        &["size", "8192"],
    );
    let crop = r#"{"crop_size": 100000}"#;
    expect_code(
        ImageProcessorConfig::from_json_str(crop),
        "E_CONFIG",
        &["crop_size"],
    );
}

/// GIF89a with a 1x1 screen whose one frame declares 65535x65535.
fn gif_with_a_hidden_giant_frame() -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend([1, 0, 1, 0, 0, 0, 0]); // screen 1x1, no global palette
    gif.push(0x2C); // image descriptor
    gif.extend([0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x80]); // 65535x65535, local palette of 2
    gif.extend([0, 0, 0, 255, 255, 255]);
    gif.extend([2, 2, 0x4C, 0x01, 0]); // LZW code size 2, a little data
    gif.push(0x3B);
    gif
}

#[test]
fn a_gif_frame_larger_than_its_screen_is_bounded_too() {
    in_child(
        "a_gif_frame_larger_than_its_screen_is_bounded_too",
        3,
        300,
        || {
            let result = preprocess(ImageSource::Encoded(gif_with_a_hidden_giant_frame()));
            expect_code(result, "E_IMAGE", &["image 0", "Gif"]);
        },
    );
}

/// An 8-bit grey PNG of `width` x `height` zeros: a few kilobytes for millions of pixels.
fn blank_png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer
        .write_image_data(&vec![0u8; (width * height) as usize])
        .unwrap();
    writer.finish().unwrap();
    bytes
}

#[test]
fn resizing_an_extreme_aspect_ratio_is_bounded() {
    in_child("resizing_an_extreme_aspect_ratio_is_bounded", 2, 400, || {
        let png = blank_png(1, 3_000_000);
        assert!(png.len() < 100_000, "the PNG is small: {} bytes", png.len());
        let result = preprocess(ImageSource::Encoded(png));
        expect_code(result, "E_IMAGE", &["image 0", "resizing", "maxPixels"]);
    });
}

#[test]
fn raw_image_geometry_that_overflows_is_refused() {
    in_child("raw_image_geometry_that_overflows_is_refused", 2, 200, || {
        for (width, height, channels) in [(1usize << 62, 4, 1), (1 << 40, 1 << 40, 3), (usize::MAX, 2, 3)] {
            let raw = ImageSource::Raw {
                data: Vec::new(),
                width,
                height,
                channels,
            };
            expect_code(preprocess(raw), "E_IMAGE", &["image 0"]);
        }
    });
}

#[test]
fn post_processing_to_a_huge_target_is_refused() {
    let logits = Tensor::zeros((1, 3, 8, 8), DType::F32, &Device::Cpu).unwrap();
    let result = post_process_semantic_segmentation(&logits, Some(&[(100_000, 100_000)]));
    expect_code(result, "E_SHAPE", &["targetSizes[0]", "100000x100000", "limit"]);
}

#[test]
fn post_processing_to_a_photo_size_needs_the_label_map_only() {
    // 150 classes resized to 12 megapixels would be 7.2 GB of logits; the label map is 48 MB.
    in_child(
        "post_processing_to_a_photo_size_needs_the_label_map_only",
        2,
        400,
        || {
            let classes = 150;
            let values: Vec<f32> = (0..classes * 64 * 64)
                .map(|i| ((i * 7919) % 1000) as f32)
                .collect();
            let logits = Tensor::from_vec(values, (1, classes, 64, 64), &Device::Cpu).unwrap();
            let maps = post_process_semantic_segmentation(&logits, Some(&[(3000, 4000)])).unwrap();
            assert_eq!(maps[0].dims(), &[3000, 4000]);
        },
    );
}

fn tiny_model() -> BeitForImageClassification {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/cls_relpos_meanpool");
    BeitForImageClassification::from_pretrained(dir, &LoadOptions::default()).unwrap()
}

fn pixels(side: usize) -> Tensor {
    Tensor::zeros((1, 3, side, side), DType::F32, &Device::Cpu).unwrap()
}

#[test]
fn the_sequence_length_of_an_input_is_bounded() {
    // Patch size 4: 260x260 makes 65x65 patches and CLS, over the default 64x64 + 1.
    let result = tiny_model().forward(&ForwardInputs::new(pixels(260)));
    expect_code(
        result,
        "E_SHAPE",
        &["260x260", "4226 tokens", "limit of 4097", "maxTokens"],
    );
}

#[test]
fn the_limits_can_be_changed_for_the_process() {
    // The limits are process-wide: changed in a child only, so other tests keep the defaults.
    in_child("the_limits_can_be_changed_for_the_process", 4, 1000, || {
        let model = tiny_model();
        limits::set_max_tokens(10).unwrap();
        let small = model.forward(&ForwardInputs::new(pixels(32)));
        expect_code(small, "E_SHAPE", &["65 tokens", "limit of 10"]);
        limits::set_max_tokens(limits::DEFAULT_MAX_TOKENS).unwrap();
        limits::set_max_attention_bytes(1000);
        let mut inputs = ForwardInputs::new(pixels(32));
        inputs.output_attentions = true;
        expect_code(
            model.forward(&inputs),
            "E_SHAPE",
            &["outputAttentions", "limit of 1000"],
        );
        limits::set_max_attention_bytes(limits::DEFAULT_MAX_ATTENTION_BYTES);
        assert_eq!(model.forward(&inputs).unwrap().attentions.unwrap().len(), 4);
        expect_code(limits::set_max_tokens(1), "E_INVALID_ARGUMENT", &["at least 2"]);
    });
}
