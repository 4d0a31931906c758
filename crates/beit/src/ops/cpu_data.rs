//! The f32 data of a CPU tensor, for the fused ops that hand raw rows to gemm.

use candle_core::{CpuStorage, DType, Layout, Storage, Tensor};

/// Whether the fused CPU kernels can take `t` (f32 on the CPU); others take the `*_slow` path.
pub fn is_cpu_f32(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32
}

/// Calls `f` with the elements of `t` in row-major order (copying only if `t` is a strided view).
pub fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(CpuStorage::F32(data)) = &*storage else {
        candle_core::bail!(
            "expected an f32 CPU tensor, got {:?} on {:?}",
            t.dtype(),
            t.device()
        );
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("a contiguous tensor has no contiguous offsets");
    };
    Ok(f(&data[start..end]))
}

/// A pointer that rayon tasks writing disjoint parts of one buffer may share.
#[derive(Clone, Copy)]
pub struct SharedMut(pub *mut f32);

// SAFETY: every user writes through it to regions no other task touches.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

/// The f32 elements of a contiguous CPU storage, as a custom op's `cpu_fwd` receives it.
pub fn contiguous_f32<'a>((storage, layout): (&'a CpuStorage, &Layout)) -> candle_core::Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(all), Some((start, end))) => Ok(&all[start..end]),
        _ => candle_core::bail!("expected a contiguous f32 CPU tensor"),
    }
}
