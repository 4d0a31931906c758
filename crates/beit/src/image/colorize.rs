//! Label maps to pictures: one fixed colour per class (a deterministic palette, class 0 black)
//! written as an RGB PNG, for the CLI's `segment --out`; and depth pictures as grey PNGs, for
//! `depth --out`.

use std::path::Path;

use crate::error::{BeitError, Result};

/// A stable, well-spread colour for class `id` (golden-ratio hue steps; 0 is black).
pub fn class_color(id: u32) -> [u8; 3] {
    if id == 0 {
        return [0, 0, 0];
    }
    let hue = (id as f64 * 0.618_033_988_749_895).fract() * 6.0;
    let x = (1.0 - (hue % 2.0 - 1.0).abs()) * 255.0;
    let (r, g, b) = match hue as u32 {
        0 => (255.0, x, 0.0),
        1 => (x, 255.0, 0.0),
        2 => (0.0, 255.0, x),
        3 => (0.0, x, 255.0),
        4 => (x, 0.0, 255.0),
        _ => (255.0, 0.0, x),
    };
    [r as u8, g as u8, b as u8]
}

/// Writes an `height x width` map of class ids as a colour PNG.
pub fn write_label_map_png(ids: &[i32], size: (usize, usize), path: &Path) -> Result<()> {
    check_size("the label map", ids.len(), size)?;
    let rgb: Vec<u8> = ids.iter().flat_map(|&id| class_color(id.max(0) as u32)).collect();
    save_png(path, &rgb, size, image::ColorType::Rgb8)
}

/// Writes an `height x width` 8-bit grey picture (a depth map's) as a PNG.
pub fn write_gray_png(pixels: &[u8], size: (usize, usize), path: &Path) -> Result<()> {
    check_size("the picture", pixels.len(), size)?;
    save_png(path, pixels, size, image::ColorType::L8)
}

/// An error unless `values` fill `height x width`.
fn check_size(what: &str, values: usize, (height, width): (usize, usize)) -> Result<()> {
    if values != height * width {
        return Err(BeitError::Shape(format!(
            "{what} has {values} values, {height}x{width} needs {}",
            height * width
        )));
    }
    Ok(())
}

fn save_png(
    path: &Path,
    data: &[u8],
    (height, width): (usize, usize),
    color: image::ColorType,
) -> Result<()> {
    image::save_buffer(path, data, width as u32, height as u32, color)
        .map_err(|e| BeitError::Image(format!("cannot write {}: {e}", path.display())))
}
