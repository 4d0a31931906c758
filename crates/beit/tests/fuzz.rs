//! A fuzz run of every reader of untrusted bytes: the image decoders (through the processor, so
//! the resize runs too), `config.json`, `preprocessor_config.json`, `model.safetensors`, the
//! pickle of `pytorch_model.bin`, and `flax_model.msgpack`. Each target mutates small valid seeds (bit flips, boundary
//! values, large decimal numbers, cut, duplicated and spliced ranges) and requires every input to
//! return, with a value or an error: no panic, no abort, no unbounded allocation (each target runs
//! in a child process under an address-space cap).
//!
//! Mutation on stable Rust rather than cargo-fuzz: coverage-guided fuzzing needs nightly and a
//! sanitizer build of every dependency (image, candle, gemm), several times CI's budget on two
//! cores; this runs in the build the suite already has. By default a fixed number of inputs from a
//! fixed seed (reproducible); `BEIT_FUZZ_SECONDS=N` runs each target for N seconds instead and
//! `BEIT_FUZZ_SEED` picks another seed. An input that fails is kept in `$BEIT_FUZZ_OUT` (default
//! the system temp directory) as `<target>-current.bin`.

#[path = "support/child.rs"]
mod child;

use std::io::{Cursor, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use beit::image::{decode::decode_label_map, BeitImageProcessor, ImageProcessorConfig, ImageSource};
use beit::{BeitConfig, BeitForImageClassification, BeitPreTrainedModel, LoadOptions};

/// Inputs per target in the default run.
const DEFAULT_INPUTS: usize = 4000;

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(path),
    )
    .unwrap()
}

/// Decimal and binary values at the edges of the integer types readers parse.
const NUMBERS: [&str; 8] = [
    "0",
    "-1",
    "4294967296",
    "1000000000",
    "18446744073709551616",
    "1e308",
    "NaN",
    "99999999999999999999999",
];
const BOUNDARY_BYTES: [u8; 6] = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF];

/// One random change to `input`; `focus` is how far into the input most changes land (headers).
fn mutate(rng: &mut fastrand::Rng, input: &mut Vec<u8>, focus: usize) {
    if input.is_empty() {
        input.push(rng.u8(..));
        return;
    }
    let span = focus.clamp(1, input.len());
    let at = if rng.bool() {
        rng.usize(..span)
    } else {
        rng.usize(..input.len())
    };
    match rng.u8(..7) {
        0 => input[at] ^= 1 << rng.u8(..8),
        1 => input[at] = BOUNDARY_BYTES[rng.usize(..BOUNDARY_BYTES.len())],
        2 => {
            let width = rng.usize(1..=4).min(input.len() - at);
            let fill = if rng.bool() { 0xFF } else { 0x00 };
            input[at..at + width].fill(fill);
        }
        3 => {
            let number = NUMBERS[rng.usize(..NUMBERS.len())].as_bytes();
            let end = (at + rng.usize(0..4)).min(input.len());
            input.splice(at..end, number.iter().copied());
        }
        4 => input.truncate(at.max(1)),
        5 => {
            let len = rng.usize(1..=64).min(input.len() - at);
            let chunk = input[at..at + len].to_vec();
            let to = rng.usize(..input.len());
            input.splice(to..to, chunk);
        }
        _ => {
            let len = rng.usize(1..=64).min(input.len() - at);
            input.drain(at..at + len);
        }
    }
}

/// How long each target runs: a fixed count of inputs, or `BEIT_FUZZ_SECONDS`.
enum Budget {
    Inputs(usize),
    Time(Duration),
}

fn budget() -> Budget {
    match std::env::var("BEIT_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seconds) => Budget::Time(Duration::from_secs(seconds)),
        None => Budget::Inputs(DEFAULT_INPUTS),
    }
}

fn out_dir() -> PathBuf {
    std::env::var_os("BEIT_FUZZ_OUT").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// Feeds mutated seeds to `run` until the budget is spent; a panic keeps the input and fails.
fn fuzz(target: &str, seeds: &[Vec<u8>], focus: usize, run: impl Fn(&[u8])) {
    let seed = std::env::var("BEIT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let mut rng = fastrand::Rng::with_seed(seed);
    let current = out_dir().join(format!("{target}-current.bin"));
    let started = Instant::now();
    let mut count = 0usize;
    loop {
        let done = match budget() {
            Budget::Inputs(n) => count >= n,
            Budget::Time(limit) => started.elapsed() >= limit,
        };
        if done {
            break;
        }
        let mut input = seeds[rng.usize(..seeds.len())].clone();
        for _ in 0..rng.usize(1..=4) {
            mutate(&mut rng, &mut input, focus);
        }
        // Written first, so an abort leaves the input that caused it behind.
        std::fs::write(&current, &input).unwrap();
        if catch_unwind(AssertUnwindSafe(|| run(&input))).is_err() {
            panic!(
                "{target}: input {count} (seed {seed}) panicked; it is kept in {}",
                current.display()
            );
        }
        count += 1;
    }
    let _ = std::fs::remove_file(&current);
    println!("{target}: {count} inputs from seed {seed}, all returned");
}

/// A 7x5 picture encoded in `format`.
fn encoded(format: image::ImageFormat, color: image::ColorType) -> Vec<u8> {
    let rgb = image::RgbImage::from_fn(7, 5, |x, y| image::Rgb([(x * 36) as u8, (y * 50) as u8, 128]));
    let img = image::DynamicImage::ImageRgb8(rgb);
    let img = match color {
        image::ColorType::L8 => image::DynamicImage::ImageLuma8(img.to_luma8()),
        image::ColorType::Rgba8 => image::DynamicImage::ImageRgba8(img.to_rgba8()),
        _ => img,
    };
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn image_seeds() -> Vec<Vec<u8>> {
    use image::{ColorType, ImageFormat};
    let mut seeds = vec![
        encoded(ImageFormat::Png, ColorType::Rgb8),
        encoded(ImageFormat::Png, ColorType::L8),
        encoded(ImageFormat::Png, ColorType::Rgba8),
        encoded(ImageFormat::Jpeg, ColorType::Rgb8),
        encoded(ImageFormat::Gif, ColorType::Rgba8),
        encoded(ImageFormat::Bmp, ColorType::Rgb8),
        encoded(ImageFormat::Tiff, ColorType::Rgb8),
        encoded(ImageFormat::WebP, ColorType::Rgba8),
    ];
    seeds.push(fixture("images/grace_hopper.jpg"));
    seeds
}

#[test]
fn fuzz_image_decoders() {
    child::in_child("fuzz_image_decoders", 4, 2048, || {
        let processor = BeitImageProcessor::new(ImageProcessorConfig::default());
        fuzz("images", &image_seeds(), 256, |bytes| {
            let source = ImageSource::Encoded(bytes.to_vec());
            let _ = processor.preprocess(std::slice::from_ref(&source), None);
            let _ = decode_label_map(&source, processor.max_pixels);
        });
    });
}

fn text_seeds(files: &[&str]) -> Vec<Vec<u8>> {
    files.iter().map(|f| fixture(f)).collect()
}

#[test]
fn fuzz_config_reader() {
    child::in_child("fuzz_config_reader", 4, 1024, || {
        let seeds = text_seeds(&[
            "reference/cls_relpos_meanpool/config.json",
            "reference/seg_upernet_aux/config.json",
            "reference/backbone_sequences/config.json",
            "pytorch/config.json",
        ]);
        fuzz("config", &seeds, usize::MAX, |bytes| {
            if let Ok(config) = BeitConfig::from_json_str(&String::from_utf8_lossy(bytes)) {
                // What a valid config promises: a model can be built from it.
                let _ = BeitForImageClassification::check_config(&config);
            }
        });
    });
}

#[test]
fn fuzz_processor_config_reader() {
    child::in_child("fuzz_processor_config_reader", 4, 1024, || {
        let seeds = text_seeds(&[
            "reference/processor/cls224_bilinear/preprocessor_config.json",
            "reference/processor/resize256_crop224_bicubic/preprocessor_config.json",
            "reference/processor/upscale640_bicubic/preprocessor_config.json",
        ]);
        let photo = ImageSource::Encoded(encoded(image::ImageFormat::Png, image::ColorType::Rgb8));
        fuzz("processor", &seeds, usize::MAX, |bytes| {
            if let Ok(config) = ImageProcessorConfig::from_json_str(&String::from_utf8_lossy(bytes)) {
                let _ = BeitImageProcessor::new(config).preprocess(std::slice::from_ref(&photo), None);
            }
        });
    });
}

/// A checkpoint directory holding `config` and `weights` under `name`.
fn checkpoint(dir: &Path, config: &[u8], name: &str, weights: &[u8]) {
    std::fs::write(dir.join("config.json"), config).unwrap();
    std::fs::write(dir.join(name), weights).unwrap();
}

#[test]
fn fuzz_safetensors_reader() {
    child::in_child("fuzz_safetensors_reader", 4, 1024, || {
        let config = fixture("reference/cls_relpos_meanpool/config.json");
        let seeds = vec![fixture("reference/cls_relpos_meanpool/model.safetensors")];
        let dir = tempfile::tempdir().unwrap();
        // The header (8-byte length, JSON) is where a reader can go wrong; the data rarely matters.
        fuzz("safetensors", &seeds, 4096, |bytes| {
            checkpoint(dir.path(), &config, "model.safetensors", bytes);
            let _ = BeitForImageClassification::from_pretrained(dir.path(), &LoadOptions::default());
        });
    });
}

#[test]
fn fuzz_flax_reader() {
    child::in_child("fuzz_flax_reader", 4, 1024, || {
        let case = "reference/flax_cls_abspos_clspool";
        let config = fixture(&format!("{case}/config.json"));
        let seeds = vec![fixture(&format!("{case}/flax_model.msgpack"))];
        let dir = tempfile::tempdir().unwrap();
        // Names, markers and lengths lie all through the tree, so mutations go anywhere.
        fuzz("flax", &seeds, usize::MAX, |bytes| {
            checkpoint(dir.path(), &config, "flax_model.msgpack", bytes);
            let _ = BeitForImageClassification::from_pretrained(dir.path(), &LoadOptions::default());
        });
    });
}

/// `pytorch_model.bin` with `data.pkl` replaced by `pickle`, every entry stored as torch stores it.
fn rezip(original: &[u8], pickle: &[u8]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(Cursor::new(original)).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        out.start_file(name.as_str(), stored).unwrap();
        out.write_all(if name.ends_with("data.pkl") {
            pickle
        } else {
            &bytes
        })
        .unwrap();
    }
    out.finish().unwrap().into_inner()
}

fn data_pkl(bin: &[u8]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bin)).unwrap();
    let name = archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.to_string()))
        .find(|n| n.ends_with("data.pkl"))
        .unwrap();
    let mut bytes = Vec::new();
    archive.by_name(&name).unwrap().read_to_end(&mut bytes).unwrap();
    bytes
}

#[test]
fn fuzz_pickle_reader() {
    child::in_child("fuzz_pickle_reader", 4, 1024, || {
        let bin = fixture("pytorch/pytorch_model.bin");
        let config = fixture("pytorch/config.json");
        let dir = tempfile::tempdir().unwrap();
        fuzz("pickle", &[data_pkl(&bin)], usize::MAX, |pickle| {
            checkpoint(dir.path(), &config, "pytorch_model.bin", &rezip(&bin, pickle));
            let _ = BeitForImageClassification::from_pretrained(dir.path(), &LoadOptions::default());
        });
    });
}
