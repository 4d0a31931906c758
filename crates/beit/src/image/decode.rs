//! Images in, packed 8-bit RGB out, as Pillow's `Image.open(...).convert("RGB")` gives them:
//! EXIF orientation not applied, alpha dropped (not composited), palettes looked up, 16-bit RGB
//! reduced to its high byte, 16-bit grey clipped to 255. The pixel count is checked from the
//! header before any pixel is decoded (Pillow's decompression-bomb limit by default).

use std::io::Cursor;
use std::path::PathBuf;

use image::{DynamicImage, ImageReader};

use crate::error::{BeitError, Result};

/// Where an image comes from.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// A file in any supported format (JPEG, PNG, WebP, GIF, BMP, TIFF).
    Path(PathBuf),
    /// The bytes of an encoded file.
    Encoded(Vec<u8>),
    /// The bytes of an encoded file from somewhere errors should name: a URL, a browser `File`'s name.
    Named { name: String, bytes: Vec<u8> },
    /// Raw interleaved pixels: 1 (grey), 3 (RGB) or 4 (RGBA) channels of u8.
    Raw {
        data: Vec<u8>,
        width: usize,
        height: usize,
        channels: usize,
    },
}

/// Packed 8-bit pixels, `height x width x channels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixels {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: Vec<u8>,
}

impl ImageSource {
    /// How an error message names this image: its path, or its place in the batch.
    pub fn describe(&self, index: usize) -> String {
        match self {
            ImageSource::Path(p) => format!("image {index} ({})", p.display()),
            ImageSource::Named { name, .. } => format!("image {index} ({name})"),
            _ => format!("image {index}"),
        }
    }

    fn bytes(&self) -> Result<std::borrow::Cow<'_, [u8]>> {
        match self {
            ImageSource::Path(p) => std::fs::read(p).map(Into::into).map_err(|e| {
                BeitError::Image(if e.kind() == std::io::ErrorKind::NotFound {
                    "the file does not exist".into()
                } else {
                    format!("cannot read the file: {e}")
                })
            }),
            ImageSource::Encoded(b) | ImageSource::Named { bytes: b, .. } => Ok(b.as_slice().into()),
            ImageSource::Raw { .. } => Err(BeitError::Image("raw pixels are not an encoded file".into())),
        }
    }
}

fn check_size(width: usize, height: usize, max_pixels: u64) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(BeitError::Image(format!(
            "the image is {width}x{height}: it has no pixels"
        )));
    }
    let pixels = (width as u64).saturating_mul(height as u64);
    if pixels > max_pixels {
        return Err(BeitError::Image(format!(
            "the image is {width}x{height} = {pixels} pixels, over the limit of {max_pixels} \
             (raise maxPixels if you trust the file)"
        )));
    }
    Ok(())
}

fn open(bytes: &[u8], max_pixels: u64) -> Result<DynamicImage> {
    let reader = || {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| BeitError::Image(format!("cannot read the image: {e}")))
    };
    let format = reader()?.format().ok_or_else(|| {
        BeitError::Image("not an image in a supported format (JPEG, PNG, WebP, GIF, BMP, TIFF)".into())
    })?;
    let (w, h) = reader()?
        .into_dimensions()
        .map_err(|e| BeitError::Image(format!("cannot read the {format:?} header: {e}")))?;
    check_size(w as usize, h as usize, max_pixels)?;
    if format == image::ImageFormat::Jpeg {
        check_jpeg_complete(bytes)?;
    }
    let mut reader = reader()?;
    reader.limits(decoder_limits(max_pixels));
    reader.decode().map_err(|e| {
        BeitError::Image(format!(
            "cannot decode the {format:?} data (truncated or corrupted?): {e}"
        ))
    })
}

/// The decoder's own bounds: the header check above sees only the declared size, but a GIF's
/// frames may be larger than its screen and a TIFF's strips larger than its image. Every
/// allocation of one decode together stays within 8 bytes (16-bit RGBA) per allowed pixel.
fn decoder_limits(max_pixels: u64) -> image::Limits {
    let mut limits = image::Limits::no_limits();
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    limits
}

/// Refuses a JPEG cut short, as Pillow does ("image file is truncated"); our decoder would
/// silently fill the missing part with grey. Inside scan data 0xFF is always followed by 0x00 or
/// a restart marker, so the last start-of-scan must be followed by an end-of-image marker.
fn check_jpeg_complete(bytes: &[u8]) -> Result<()> {
    let last = |marker: u8| bytes.windows(2).rposition(|w| w == [0xFF, marker]);
    match (last(0xDA), last(0xD9)) {
        (Some(sos), Some(eoi)) if eoi > sos => Ok(()),
        _ => Err(BeitError::Image(
            "the JPEG data is truncated (no end-of-image marker after the last scan)".into(),
        )),
    }
}

/// Pillow's `convert("RGB")` of what Pillow would have opened.
fn to_rgb(img: DynamicImage) -> Vec<u8> {
    let expand = |grey: &mut dyn Iterator<Item = u8>| grey.flat_map(|v| [v, v, v]).collect();
    match img {
        DynamicImage::ImageRgb8(b) => b.into_raw(),
        DynamicImage::ImageLuma8(b) => expand(&mut b.into_raw().into_iter()),
        DynamicImage::ImageLumaA8(b) => expand(&mut b.into_raw().into_iter().step_by(2)),
        DynamicImage::ImageRgba8(b) => b
            .into_raw()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        DynamicImage::ImageLuma16(b) => expand(&mut b.into_raw().into_iter().map(|v| v.min(255) as u8)),
        DynamicImage::ImageLumaA16(b) => {
            expand(&mut b.into_raw().into_iter().step_by(2).map(|v| (v >> 8) as u8))
        }
        DynamicImage::ImageRgb16(b) => b.into_raw().into_iter().map(|v| (v >> 8) as u8).collect(),
        DynamicImage::ImageRgba16(b) => b
            .into_raw()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]].map(|v| (v >> 8) as u8))
            .collect(),
        other => other.to_rgb8().into_raw(),
    }
}

fn raw(data: &[u8], width: usize, height: usize, channels: usize) -> Result<()> {
    if ![1, 3, 4].contains(&channels) {
        return Err(BeitError::Image(format!(
            "raw images have 1, 3 or 4 channels, got {channels}"
        )));
    }
    let Some(expected) = crate::limits::checked_product(&[width, height, channels]) else {
        return Err(BeitError::Image(format!(
            "a raw image of {width}x{height}x{channels} is larger than any buffer: check width and height"
        )));
    };
    if data.len() as u64 != expected {
        return Err(BeitError::Image(format!(
            "the raw buffer holds {} bytes, but {width}x{height}x{channels} needs {expected}",
            data.len()
        )));
    }
    Ok(())
}

/// A raw source's pixels as given, after checking its geometry; None for encoded sources.
fn checked_raw(source: &ImageSource, max_pixels: u64) -> Option<Result<Pixels>> {
    let ImageSource::Raw {
        data,
        width,
        height,
        channels,
    } = source
    else {
        return None;
    };
    let checked =
        raw(data, *width, *height, *channels).and_then(|()| check_size(*width, *height, max_pixels));
    Some(checked.map(|()| Pixels {
        width: *width,
        height: *height,
        channels: *channels,
        data: data.clone(),
    }))
}

/// Decodes any source to packed RGB.
pub fn decode_rgb(source: &ImageSource, max_pixels: u64) -> Result<Pixels> {
    if let Some(pixels) = checked_raw(source, max_pixels) {
        let p = pixels?;
        let data = match p.channels {
            1 => p.data.iter().flat_map(|&v| [v, v, v]).collect(),
            4 => p.data.chunks_exact(4).flat_map(|q| [q[0], q[1], q[2]]).collect(),
            _ => p.data,
        };
        return Ok(Pixels {
            channels: 3,
            data,
            ..p
        });
    }
    let img = open(&source.bytes()?, max_pixels)?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    Ok(Pixels {
        width,
        height,
        channels: 3,
        data: to_rgb(img),
    })
}

/// Decodes a segmentation map to one class id per pixel: palette PNGs give their indices (as
/// Pillow's "P" mode does), grey images their values.
pub fn decode_label_map(source: &ImageSource, max_pixels: u64) -> Result<Pixels> {
    if let Some(pixels) = checked_raw(source, max_pixels) {
        let p = pixels?;
        if p.channels != 1 {
            return Err(BeitError::Image(format!(
                "a label map has 1 channel, got {}",
                p.channels
            )));
        }
        return Ok(p);
    }
    let bytes = source.bytes()?;
    if bytes.starts_with(b"\x89PNG") {
        return png_indices(&bytes, max_pixels);
    }
    match open(&bytes, max_pixels)? {
        DynamicImage::ImageLuma8(b) => {
            let (width, height) = (b.width() as usize, b.height() as usize);
            Ok(Pixels {
                width,
                height,
                channels: 1,
                data: b.into_raw(),
            })
        }
        other => Err(BeitError::Image(format!(
            "a label map must be a single-channel 8-bit image, got {:?}",
            other.color()
        ))),
    }
}

/// The stored 8-bit samples of a grey or palette PNG, palette not applied.
fn png_indices(bytes: &[u8], max_pixels: u64) -> Result<Pixels> {
    let bad = |e: png::DecodingError| BeitError::Image(format!("cannot decode the PNG label map: {e}"));
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(bad)?;
    let info = reader.info();
    let (width, height) = (info.width as usize, info.height as usize);
    check_size(width, height, max_pixels)?;
    let single = matches!(
        info.color_type,
        png::ColorType::Grayscale | png::ColorType::Indexed
    );
    if !single || info.bit_depth != png::BitDepth::Eight {
        return Err(BeitError::Image(format!(
            "a label map must be an 8-bit grey or palette PNG, got {:?} at {:?}",
            info.color_type, info.bit_depth
        )));
    }
    let mut data = vec![0u8; width * height];
    reader.next_frame(&mut data).map_err(bad)?;
    Ok(Pixels {
        width,
        height,
        channels: 1,
        data,
    })
}
