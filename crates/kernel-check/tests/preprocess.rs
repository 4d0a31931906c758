//! The preprocessing kernels (emulated on the host) against beit's CPU image path: both resample
//! passes for every filter, up and down, and the whole processor (resize, crop, rescale,
//! normalize). Pixels must be exactly equal.

use beit::image::resize::{resample_taps, resize};
use beit::image::{BeitImageProcessor, ImageProcessorConfig, ImageSource, Resample};
use kernel_check::preprocess::{normalize, resample_h, resample_v, Batch, Normalize, Taps};

const FILTERS: [Resample; 6] = [
    Resample::Nearest,
    Resample::Lanczos,
    Resample::Bilinear,
    Resample::Bicubic,
    Resample::Box,
    Resample::Hamming,
];

/// Random pixels with some flat runs and hard edges, where the rounding and clipping matter.
fn image(rng: &mut fastrand::Rng, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| match (i / 7) % 3 {
            0 => rng.u8(..),
            1 => 255,
            _ => (i % 2) as u8 * 255,
        })
        .collect()
}

/// Both GPU passes over a batch: horizontal over every row, then vertical.
fn gpu_resize(src: &[u8], shape: Batch, (out_w, out_h): (usize, usize), filter: Resample) -> Vec<u8> {
    let (hb, hc, hk) = resample_taps(shape.width, out_w, filter);
    let (vb, vc, vk) = resample_taps(shape.height, out_h, filter);
    let h_taps = Taps {
        bounds: &hb,
        coeffs: &hc,
        ksize: hk,
    };
    let v_taps = Taps {
        bounds: &vb,
        coeffs: &vc,
        ksize: vk,
    };
    let between = resample_h(src, shape, &h_taps);
    resample_v(
        &between,
        Batch {
            width: out_w,
            ..shape
        },
        &v_taps,
    )
}

fn check_resize(
    rng: &mut fastrand::Rng,
    (w, h, c): (usize, usize, usize),
    out: (usize, usize),
    filter: Resample,
) {
    let batch = 2;
    let one = w * h * c;
    let src = image(rng, batch * one);
    let shape = Batch {
        batch,
        height: h,
        width: w,
        channels: c,
    };
    let got = gpu_resize(&src, shape, out, filter);
    let want: Vec<u8> = src
        .chunks_exact(one)
        .flat_map(|img| resize(img, (w, h, c), out, filter))
        .collect();
    let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
    assert_eq!(got.len(), want.len());
    assert_eq!(
        differ, 0,
        "{filter:?} {w}x{h}x{c} -> {out:?}: {differ} bytes differ"
    );
}

#[test]
fn every_filter_up_and_down() {
    let mut rng = fastrand::Rng::with_seed(1);
    let sizes = [
        ((37, 23, 3), (17, 13)), // down both ways, odd sizes
        ((13, 9, 3), (40, 31)),  // up both ways
        ((31, 20, 1), (64, 7)),  // up in x, down in y, grey
        ((50, 45, 3), (50, 19)), // width unchanged
        ((21, 30, 3), (8, 30)),  // height unchanged
        ((1, 1, 3), (5, 3)),     // a single pixel
        ((300, 7, 4), (224, 224)),
    ];
    for filter in FILTERS {
        for &(input, out) in &sizes {
            check_resize(&mut rng, input, out, filter);
        }
    }
}

#[test]
fn unchanged_size_taps_are_the_identity() {
    // The CPU skips such a pass; the GPU may run it.
    let mut rng = fastrand::Rng::with_seed(2);
    for filter in FILTERS {
        check_resize(&mut rng, (19, 11, 3), (19, 11), filter);
    }
}

/// HF's center crop offset, which may be negative (zero padding).
fn crop_offset(size: usize, crop: usize) -> i32 {
    (size as i32 - crop as i32).div_euclid(2)
}

fn check_processor(json: &str, (w, h): (usize, usize), seed: u64) {
    let cfg = ImageProcessorConfig::from_json_str(json).unwrap();
    let processor = BeitImageProcessor::new(cfg.clone());
    let mut rng = fastrand::Rng::with_seed(seed);
    let batch = 3;
    let images: Vec<Vec<u8>> = (0..batch).map(|_| image(&mut rng, w * h * 3)).collect();
    let sources: Vec<ImageSource> = images
        .iter()
        .map(|data| ImageSource::Raw {
            data: data.clone(),
            width: w,
            height: h,
            channels: 3,
        })
        .collect();
    let want: Vec<f32> = processor
        .preprocess(&sources, None)
        .unwrap()
        .pixel_values
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();

    let src: Vec<u8> = images.concat();
    let shape = Batch {
        batch,
        height: h,
        width: w,
        channels: 3,
    };
    let (rh, rw) = cfg.size.resolve((h, w));
    let (resized, (rh, rw)) = if cfg.do_resize {
        (gpu_resize(&src, shape, (rw, rh), cfg.filter()), (rh, rw))
    } else {
        (src, (h, w))
    };
    let (out_h, out_w) = if cfg.do_center_crop {
        cfg.crop_size.resolve((rh, rw))
    } else {
        (rh, rw)
    };
    let norm = Normalize {
        top: crop_offset(rh, out_h),
        left: crop_offset(rw, out_w),
        out_h,
        out_w,
        factor: &[cfg.rescale_factor; 3],
        mean: &cfg.mean().unwrap(),
        std: &cfg.std().unwrap(),
        do_rescale: cfg.do_rescale,
        do_normalize: cfg.do_normalize,
    };
    let resized_shape = Batch {
        height: rh,
        width: rw,
        ..shape
    };
    let got = normalize(&resized, resized_shape, &norm);
    assert_eq!(got.len(), want.len());
    let differ = got
        .iter()
        .zip(&want)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(differ, 0, "{json}: {differ} values differ");
}

#[test]
fn the_whole_processor_bit_for_bit() {
    // BEiT's own config: bicubic 256 then crop 224, ImageNet-style mean/std.
    let beit = r#"{"size": {"height": 256, "width": 256}, "crop_size": {"height": 224, "width": 224},
                   "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}"#;
    check_processor(beit, (97, 83), 1);
    // Other filters, odd sizes, a crop larger than the image (zero padding), shortest edge.
    let padded = r#"{"size": {"height": 30, "width": 33}, "resample": 2,
                     "crop_size": {"height": 35, "width": 38},
                     "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}"#;
    check_processor(padded, (64, 48), 2);
    let padded_in_y = r#"{"size": {"height": 30, "width": 41}, "resample": 0,
                          "crop_size": {"height": 35, "width": 38}}"#;
    check_processor(padded_in_y, (64, 48), 6);
    let shortest = r#"{"size": {"shortest_edge": 40}, "resample": 1, "do_center_crop": false,
                       "rescale_factor": 0.00392156862745098}"#;
    check_processor(shortest, (75, 51), 3);
    let raw = r#"{"resample": 4, "do_resize": true, "size": 17, "do_center_crop": false,
                  "do_rescale": false, "do_normalize": false}"#;
    check_processor(raw, (33, 12), 4);
    let rescale_only = r#"{"resample": 5, "size": 19, "crop_size": 16, "do_normalize": false}"#;
    check_processor(rescale_only, (25, 26), 5);
}
