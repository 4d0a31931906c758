//! What the launches share: contiguous device views of a storage, null pointers for the kernels'
//! optional inputs, and grid sizes.

use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaView};
use candle_core::Layout;

/// A null device pointer, for a kernel's optional input that is absent.
pub const NULL: u64 = 0;

/// The elements of `slice` that a contiguous `layout` covers.
pub fn contiguous<'a, T>(
    slice: &'a CudaSlice<T>,
    layout: &Layout,
    what: &str,
) -> candle_core::Result<CudaView<'a, T>> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(slice.slice(start..end)),
        None => candle_core::bail!("{what} must be contiguous"),
    }
}

/// `n` as a kernel's `int` argument.
pub fn int(n: usize, what: &str) -> candle_core::Result<i32> {
    i32::try_from(n)
        .map_err(|_| candle_core::Error::Msg(format!("{what} = {n} exceeds a CUDA kernel's int range")))
}

/// The float types our kernels are instantiated for.
pub trait Float:
    candle_core::cuda_backend::CudaDType + cudarc::driver::DeviceRepr + candle_core::WithDType
{
}
impl Float for f32 {}
impl Float for half::f16 {}
impl Float for half::bf16 {}

/// Calls `$run::<T>($args)` with `T` the Rust type of `$dtype` (f32, f16 or bf16).
macro_rules! by_float {
    ($dtype:expr, $what:expr, $run:ident($($args:expr),* $(,)?)) => {
        match $dtype {
            candle_core::DType::F32 => $run::<f32>($($args),*),
            candle_core::DType::F16 => $run::<half::f16>($($args),*),
            candle_core::DType::BF16 => $run::<half::bf16>($($args),*),
            other => candle_core::bail!("{}: no CUDA kernel for {other:?}", $what),
        }
    };
}
pub(crate) use by_float;
