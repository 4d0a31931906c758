//! Our port of Pillow's resampling equals Pillow 12 bit for bit, for every filter, on RGB and
//! greyscale, down, up and mixed scales (fixtures written by scripts/make_resize_fixtures.py).

use std::path::{Path, PathBuf};

use beit::image::resize::resize;
use beit::image::Resample;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resize")
}

fn load(name: &str) -> (Vec<u8>, usize, usize, usize) {
    let img = image::open(dir().join(name)).unwrap();
    let (w, h) = (img.width() as usize, img.height() as usize);
    match img {
        image::DynamicImage::ImageLuma8(b) => (b.into_raw(), w, h, 1),
        other => (other.to_rgb8().into_raw(), w, h, 3),
    }
}

#[test]
fn every_filter_matches_pillow() {
    let filters = [
        ("nearest", Resample::Nearest),
        ("lanczos", Resample::Lanczos),
        ("bilinear", Resample::Bilinear),
        ("bicubic", Resample::Bicubic),
        ("box", Resample::Box),
        ("hamming", Resample::Hamming),
    ];
    let mut checked = 0;
    for mode in ["rgb", "grey"] {
        let (src, w, h, c) = load(&format!("{mode}_input.png"));
        for (name, filter) in filters {
            for (ow, oh) in [(17, 13), (150, 97), (40, 80)] {
                let file = format!("{mode}_{name}_{ow}x{oh}.png");
                let (want, ..) = load(&file);
                let got = resize(&src, (w, h, c), (ow, oh), filter);
                let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
                assert_eq!(
                    differ,
                    0,
                    "{file}: {differ} of {} values differ from Pillow",
                    want.len()
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 36);
}
