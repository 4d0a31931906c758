//! Launch of `kernels/layer_norm.cu`: one warp per row, four rows a block, two-pass f32 statistics.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::{CudaStorage, WrapErr};
use candle_core::Layout;
use cudarc::driver::{LaunchConfig, PushKernelArg};

use crate::cuda::args::{by_float, contiguous, int, Float};
use crate::cuda::module::{function, typed, Family};
use crate::launch_geometry::{LAYER_NORM_ROWS, LAYER_NORM_THREADS};

/// `(x - mean) / sqrt(var + eps) * weight + bias` over the last dimension of `x`.
pub fn layer_norm(
    x: (&CudaStorage, &Layout),
    weight: (&CudaStorage, &Layout),
    bias: (&CudaStorage, &Layout),
    eps: f32,
) -> candle_core::Result<CudaStorage> {
    by_float!(x.0.dtype(), "layer_norm", run(x, weight, bias, eps))
}

fn run<T: Float>(
    (xs, xl): (&CudaStorage, &Layout),
    (ws, wl): (&CudaStorage, &Layout),
    (bs, bl): (&CudaStorage, &Layout),
    eps: f32,
) -> candle_core::Result<CudaStorage> {
    let dev = &xs.device;
    let dim = *xl.dims().last().unwrap_or(&1);
    let total = xl.shape().elem_count();
    let rows = total.checked_div(dim).unwrap_or(0);
    let x = contiguous(xs.as_cuda_slice::<T>()?, xl, "layer_norm input")?;
    let w = contiguous(ws.as_cuda_slice::<T>()?, wl, "layer_norm weight")?;
    let b = contiguous(bs.as_cuda_slice::<T>()?, bl, "layer_norm bias")?;
    if w.len() != dim || b.len() != dim {
        candle_core::bail!(
            "layer_norm: weight/bias have {} / {} elements for rows of {dim}",
            w.len(),
            b.len()
        );
    }
    // SAFETY: the kernel writes every element.
    let y = unsafe { dev.alloc::<T>(total)? };
    if rows > 0 {
        let func = function(dev, Family::LayerNorm, &typed("beit_layer_norm", T::DTYPE)?)?;
        let stream = dev.cuda_stream();
        let mut launch = stream.launch_builder(&func);
        let (n_rows, n_dim) = (int(rows, "rows")?, int(dim, "features")?);
        launch
            .arg(&x)
            .arg(&w)
            .arg(&b)
            .arg(&y)
            .arg(&n_rows)
            .arg(&n_dim)
            .arg(&eps);
        let cfg = LaunchConfig {
            grid_dim: (rows_grid(rows)?, 1, 1),
            block_dim: (LAYER_NORM_THREADS * LAYER_NORM_ROWS, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: arguments as kernels/layer_norm.cu declares them; buffers sized above.
        unsafe { launch.launch(cfg) }.w()?;
    }
    Ok(CudaStorage::wrap_cuda_slice(y, dev.clone()))
}

/// Blocks of `LAYER_NORM_ROWS` rows covering `rows`, within a launch's x dimension.
fn rows_grid(rows: usize) -> candle_core::Result<u32> {
    match u32::try_from(rows.div_ceil(LAYER_NORM_ROWS as usize)) {
        Ok(blocks) if blocks < i32::MAX as u32 => Ok(blocks),
        _ => candle_core::bail!("layer_norm: {rows} rows exceed one CUDA launch"),
    }
}
