//! Launch of `kernels/epilogue.cu`: `y = act(x + bias) + residual` in one pass over the output
//! of a cuBLAS matmul (candle's). cuBLASLt's own GELU epilogue is the tanh approximation; BEiT's
//! is the exact erf one, so the activation is ours.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaView};
use candle_core::cuda_backend::{CudaDevice, CudaStorage, WrapErr};
use candle_core::Layout;
use cudarc::driver::{LaunchConfig, PushKernelArg};

use crate::cuda::args::{by_float, contiguous, int, Float, NULL};
use crate::cuda::module::{function, typed, Family};
use crate::launch_geometry::{grid_stride_blocks, EPILOGUE_UNROLL, GRID_STRIDE_THREADS};

/// Whether the kernel may move 16 bytes a load: every row a whole number of 16-byte vectors and
/// every operand starting on a 16-byte boundary (allocations are; offsets into them may not be).
fn vectorizable<T: Float>(e: &Epilogue, n: usize) -> bool {
    let size = T::DTYPE.size_in_bytes();
    let aligned = |l: &Layout| (l.start_offset() * size).is_multiple_of(16);
    (n * size).is_multiple_of(16)
        && aligned(e.x.1)
        && e.bias.is_none_or(|(_, l)| aligned(l))
        && e.residual.is_none_or(|(_, l)| aligned(l))
}

/// The epilogue's inputs: the matmul output `x` `[rows, n]`, an optional bias `[n]` and residual
/// `[rows, n]`, all of one dtype.
pub struct Epilogue<'a> {
    pub x: (&'a CudaStorage, &'a Layout),
    pub bias: Option<(&'a CudaStorage, &'a Layout)>,
    pub residual: Option<(&'a CudaStorage, &'a Layout)>,
    pub gelu: bool,
}

/// Runs the epilogue into a new buffer of `x`'s shape.
pub fn bias_act_residual(e: &Epilogue) -> candle_core::Result<CudaStorage> {
    by_float!(e.x.0.dtype(), "bias_act_residual", run(e))
}

fn run<T: Float>(e: &Epilogue) -> candle_core::Result<CudaStorage> {
    let (storage, layout) = e.x;
    let dev = &storage.device;
    let dims = layout.dims();
    let n = *dims.last().unwrap_or(&1);
    let total = layout.shape().elem_count();
    let rows = total.checked_div(n).unwrap_or(0);
    let x = contiguous(storage.as_cuda_slice::<T>()?, layout, "epilogue input")?;
    let bias = e
        .bias
        .map(|(s, l)| s.as_cuda_slice::<T>().and_then(|b| contiguous(b, l, "bias")));
    let bias = bias.transpose()?;
    let residual = e
        .residual
        .map(|(s, l)| s.as_cuda_slice::<T>().and_then(|r| contiguous(r, l, "residual")));
    let residual = residual.transpose()?;
    if bias.as_ref().is_some_and(|b| b.len() != n) || residual.as_ref().is_some_and(|r| r.len() != total) {
        candle_core::bail!("bias_act_residual: bias or residual does not match the output {dims:?}");
    }
    // SAFETY: every element is written by the kernel before it is read.
    let y = unsafe { dev.alloc::<T>(total)? };
    let operands = Operands {
        x: &x,
        bias: bias.as_ref(),
        residual: residual.as_ref(),
        y: &y.slice(..),
        vec: vectorizable::<T>(e, n),
        gelu: e.gelu,
    };
    launch(dev, &operands, rows, n)?;
    Ok(CudaStorage::wrap_cuda_slice(y, dev.clone()))
}

/// `y = gelu(y)` over a `[rows, n]` buffer of ours (a cuBLASLt output: 16-byte aligned).
pub fn gelu_in_place<T: Float>(
    dev: &CudaDevice,
    y: &CudaSlice<T>,
    rows: usize,
    n: usize,
) -> candle_core::Result<()> {
    let y = y.slice(..);
    let operands = Operands {
        x: &y,
        bias: None,
        residual: None,
        y: &y,
        vec: (n * T::DTYPE.size_in_bytes()).is_multiple_of(16),
        gelu: true,
    };
    launch(dev, &operands, rows, n)
}

/// One launch's buffers; `x` and `y` may be the same (each element is read before it is written).
struct Operands<'a, 'b, T> {
    x: &'a CudaView<'b, T>,
    bias: Option<&'a CudaView<'b, T>>,
    residual: Option<&'a CudaView<'b, T>>,
    y: &'a CudaView<'b, T>,
    /// 16 bytes a load: see `vectorizable`.
    vec: bool,
    gelu: bool,
}

fn launch<T: Float>(dev: &CudaDevice, o: &Operands<T>, rows: usize, n: usize) -> candle_core::Result<()> {
    let total = rows * n;
    if total == 0 {
        return Ok(());
    }
    let func = function(dev, Family::Epilogue, &typed("beit_bias_act_residual", T::DTYPE)?)?;
    let stream = dev.cuda_stream();
    let mut launch = stream.launch_builder(&func);
    launch.arg(o.x);
    match o.bias {
        Some(b) => launch.arg(b),
        None => launch.arg(&NULL),
    };
    match o.residual {
        Some(r) => launch.arg(r),
        None => launch.arg(&NULL),
    };
    let per_vector = if o.vec { 16 / T::DTYPE.size_in_bytes() } else { 1 };
    let vec = i32::from(o.vec);
    let (n_rows, n, gelu) = (int(rows, "rows")?, int(n, "features")?, i32::from(o.gelu));
    launch.arg(o.y).arg(&n_rows).arg(&n).arg(&gelu).arg(&vec);
    let cfg = LaunchConfig {
        grid_dim: (
            grid_stride_blocks(
                (total / per_vector).div_ceil(EPILOGUE_UNROLL),
                GRID_STRIDE_THREADS,
            ),
            1,
            1,
        ),
        block_dim: (GRID_STRIDE_THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: the arguments match the kernel's signature (kernels/epilogue.cu) and every buffer
    // holds the elements the dimensions say.
    unsafe { launch.launch(cfg) }.w()?;
    Ok(())
}
