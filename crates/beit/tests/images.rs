//! Bad images give an E_IMAGE error that names the image and the reason; nothing is allocated for
//! an image whose header claims more pixels than the limit.

use std::path::{Path, PathBuf};

use beit::image::{BeitImageProcessor, ImageProcessorConfig, ImageSource};

fn image(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/images")
        .join(name)
}

fn processor() -> BeitImageProcessor {
    BeitImageProcessor::new(ImageProcessorConfig::default())
}

fn image_error(sources: &[ImageSource]) -> String {
    let err = processor().preprocess(sources, None).unwrap_err();
    assert_eq!(err.code(), "E_IMAGE", "{err}");
    err.to_string()
}

fn chunk(png: &mut Vec<u8>, kind_and_data: &[u8]) {
    png.extend_from_slice(&(kind_and_data.len() as u32 - 4).to_be_bytes());
    png.extend_from_slice(kind_and_data);
    png.extend_from_slice(&crc32fast::hash(kind_and_data).to_be_bytes());
}

/// A PNG whose IHDR claims `width x height`, with an empty image data chunk.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, &ihdr);
    chunk(&mut png, b"IDAT");
    chunk(&mut png, b"IEND");
    png
}

#[test]
fn every_format_decodes_to_the_same_pixels() {
    let png = processor()
        .preprocess(&[ImageSource::Path(image("chelsea.png"))], None)
        .unwrap();
    let img = image::open(image("chelsea.png")).unwrap();
    for format in [
        image::ImageFormat::Bmp,
        image::ImageFormat::Tiff,
        image::ImageFormat::WebP,
    ] {
        let mut bytes = std::io::Cursor::new(Vec::new());
        img.write_to(&mut bytes, format).unwrap();
        let out = processor()
            .preprocess(&[ImageSource::Encoded(bytes.into_inner())], None)
            .unwrap();
        let diff = (&out.pixel_values - &png.pixel_values).unwrap().abs().unwrap();
        let max: f32 = diff.flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap();
        assert_eq!(max, 0.0, "{format:?}");
    }
}

#[test]
fn a_missing_file_is_named() {
    let msg = image_error(&[ImageSource::Path("/no/such/cat.jpg".into())]);
    assert!(
        msg.contains("image 0 (/no/such/cat.jpg)") && msg.contains("does not exist"),
        "{msg}"
    );
}

#[test]
fn named_bytes_are_named_in_errors() {
    let name = "http://127.0.0.1:9/page.html".to_string();
    let msg = image_error(&[
        ImageSource::Path(image("chelsea.png")),
        ImageSource::Named {
            name,
            bytes: b"<html>not an image</html>".to_vec(),
        },
    ]);
    assert!(msg.contains("image 1 (http://127.0.0.1:9/page.html)"), "{msg}");
}

#[test]
fn truncated_and_non_image_files_are_refused() {
    let bytes = std::fs::read(image("grace_hopper.jpg")).unwrap();
    let msg = image_error(&[ImageSource::Encoded(bytes[..bytes.len() / 3].to_vec())]);
    assert!(msg.contains("image 0"), "{msg}");
    let png = std::fs::read(image("camera.png")).unwrap();
    image_error(&[ImageSource::Encoded(png[..png.len() / 2].to_vec())]);
    let msg = image_error(&[ImageSource::Encoded(b"%PDF-1.7 not an image".to_vec())]);
    assert!(msg.contains("not an image in a supported format"), "{msg}");
}

#[test]
fn a_bomb_is_refused_from_its_header() {
    let msg = image_error(&[ImageSource::Encoded(png_header(100_000, 100_000))]);
    assert!(
        msg.contains("100000x100000") && msg.contains("over the limit"),
        "{msg}"
    );
}

#[test]
fn zero_sized_and_short_raw_images_are_refused() {
    let msg = image_error(&[ImageSource::Raw {
        data: vec![],
        width: 0,
        height: 0,
        channels: 3,
    }]);
    assert!(msg.contains("no pixels"), "{msg}");
    let msg = image_error(&[ImageSource::Raw {
        data: vec![0; 10],
        width: 4,
        height: 4,
        channels: 3,
    }]);
    assert!(
        msg.contains("holds 10 bytes") && msg.contains("needs 48"),
        "{msg}"
    );
}

#[test]
fn one_bad_image_in_a_batch_is_named_by_its_index() {
    let good = ImageSource::Path(image("coffee.png"));
    let bad = ImageSource::Encoded(b"garbage".to_vec());
    let msg = image_error(&[good.clone(), good, bad]);
    assert!(msg.starts_with("image 2:"), "{msg}");
}
