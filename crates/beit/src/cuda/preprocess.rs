//! Launches of `kernels/preprocess.cu`: one decoded image (u8, HWC) resized with Pillow's
//! fixed-point taps (computed here on the host, exactly as the CPU path computes them), cropped,
//! rescaled and normalized into f32 `[3, H, W]` on the GPU, equal to the CPU's pixels bit for bit.

use candle_core::cuda_backend::{CudaDevice, CudaStorage, WrapErr};
use cudarc::driver::{CudaSlice, CudaView, LaunchConfig, PushKernelArg};

use crate::cuda::args::int;
use crate::cuda::module::{function, Family};
use crate::image::pixel_plan::Plan;
use crate::image::resample::Resample;
use crate::image::resize::resample_taps;
use crate::launch_geometry::{grid_stride_blocks, GRID_STRIDE_THREADS};

/// An image of `width x height x 3` u8 pixels on the device.
struct DeviceImage {
    data: CudaSlice<u8>,
    width: usize,
    height: usize,
}

fn config(elements: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (grid_stride_blocks(elements, GRID_STRIDE_THREADS), 1, 1),
        block_dim: (GRID_STRIDE_THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// `[3, crop height, crop width]` f32 pixels of the RGB image `data` (`width x height`, on the
/// device).
pub fn preprocess(
    dev: &CudaDevice,
    data: &CudaView<u8>,
    (width, height): (usize, usize),
    plan: &Plan,
) -> candle_core::Result<CudaStorage> {
    let stream = dev.cuda_stream();
    let mut img = DeviceImage {
        data: stream.clone_dtod(data).w()?,
        width,
        height,
    };
    if let Some((out_w, out_h)) = plan.resize {
        if out_w != img.width {
            img = resample(dev, &img, out_w, plan.filter, Pass::Horizontal)?;
        }
        if out_h != img.height {
            img = resample(dev, &img, out_h, plan.filter, Pass::Vertical)?;
        }
    }
    normalize(dev, &img, plan)
}

#[derive(Clone, Copy, PartialEq)]
enum Pass {
    Horizontal,
    Vertical,
}

fn resample(
    dev: &CudaDevice,
    img: &DeviceImage,
    out: usize,
    filter: Resample,
    pass: Pass,
) -> candle_core::Result<DeviceImage> {
    let stream = dev.cuda_stream();
    let in_size = if pass == Pass::Horizontal {
        img.width
    } else {
        img.height
    };
    let (bounds, coeffs, ksize) = resample_taps(in_size, out, filter);
    let (bounds, coeffs) = (stream.clone_htod(&bounds).w()?, stream.clone_htod(&coeffs).w()?);
    let (out_w, out_h) = if pass == Pass::Horizontal {
        (out, img.height)
    } else {
        (img.width, out)
    };
    let elements = out_w * out_h * 3;
    // SAFETY: the kernel writes every element.
    let dst = unsafe { dev.alloc::<u8>(elements)? };
    let name = if pass == Pass::Horizontal {
        "beit_resample_h_u8"
    } else {
        "beit_resample_v_u8"
    };
    let func = function(dev, Family::Preprocess, name)?;
    let (batch, h, w, channels) = (1i32, int(img.height, "height")?, int(img.width, "width")?, 3i32);
    let (n_out, n_k) = (int(out, "output size")?, int(ksize, "taps")?);
    let mut launch = stream.launch_builder(&func);
    launch
        .arg(&img.data)
        .arg(&dst)
        .arg(&batch)
        .arg(&h)
        .arg(&w)
        .arg(&n_out)
        .arg(&channels);
    launch.arg(&bounds).arg(&coeffs).arg(&n_k);
    // SAFETY: arguments as kernels/preprocess.cu declares them; taps cover every output.
    unsafe { launch.launch(config(elements)) }.w()?;
    Ok(DeviceImage {
        data: dst,
        width: out_w,
        height: out_h,
    })
}

fn normalize(dev: &CudaDevice, img: &DeviceImage, plan: &Plan) -> candle_core::Result<CudaStorage> {
    let stream = dev.cuda_stream();
    let (top, left, out_h, out_w) = plan.crop;
    let factor = stream.clone_htod(&[plan.rescale.unwrap_or(1.0); 3]).w()?;
    let (mean, std) = plan.normalize.unwrap_or(([0.0; 3], [1.0; 3]));
    let (mean, std) = (stream.clone_htod(&mean).w()?, stream.clone_htod(&std).w()?);
    let elements = 3 * out_h * out_w;
    // SAFETY: the kernel writes every element.
    let dst = unsafe { dev.alloc::<f32>(elements)? };
    let func = function(dev, Family::Preprocess, "beit_normalize_f32")?;
    let (batch, h, w, channels) = (1i32, int(img.height, "height")?, int(img.width, "width")?, 3i32);
    let (top, left) = (offset(top)?, offset(left)?);
    let (oh, ow) = (int(out_h, "crop height")?, int(out_w, "crop width")?);
    let (rescale, norm) = (
        i32::from(plan.rescale.is_some()),
        i32::from(plan.normalize.is_some()),
    );
    let mut launch = stream.launch_builder(&func);
    launch
        .arg(&img.data)
        .arg(&dst)
        .arg(&batch)
        .arg(&h)
        .arg(&w)
        .arg(&channels);
    launch
        .arg(&top)
        .arg(&left)
        .arg(&oh)
        .arg(&ow)
        .arg(&factor)
        .arg(&mean)
        .arg(&std);
    launch.arg(&rescale).arg(&norm);
    if elements > 0 {
        // SAFETY: arguments as kernels/preprocess.cu declares them.
        unsafe { launch.launch(config(elements)) }.w()?;
    }
    Ok(CudaStorage::wrap_cuda_slice(dst, dev.clone()))
}

fn offset(v: i64) -> candle_core::Result<i32> {
    i32::try_from(v)
        .map_err(|_| candle_core::Error::Msg(format!("crop offset {v} exceeds a CUDA kernel's int range")))
}
