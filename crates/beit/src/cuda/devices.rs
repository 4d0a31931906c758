//! The CUDA devices this process sees, asked of the driver without opening any.

/// How many CUDA devices the driver reports; 0 when there is no driver or it fails.
pub fn count() -> usize {
    cudarc::driver::CudaContext::device_count().map_or(0, |n| n.max(0) as usize)
}

/// Bytes of device `ordinal`'s memory in use (by every process), as the driver counts them.
pub fn memory_in_use(ordinal: usize) -> Option<usize> {
    let context = cudarc::driver::CudaContext::new(ordinal).ok()?;
    let (free, total) = context.mem_get_info().ok()?;
    Some(total.saturating_sub(free))
}

/// Keeps the memory that tensors give back in the device's default pool (which candle's
/// stream-ordered allocations come from) instead of returning it to the driver at every
/// synchronize, the pool's default: each forward's hundred allocations then map fresh memory
/// again, half a millisecond a BEiT-base forward at batch 64 on an H200. PyTorch's caching
/// allocator keeps freed memory the same way.
pub fn keep_freed_memory(device: &candle_core::cuda_backend::CudaDevice) -> candle_core::Result<()> {
    use cudarc::driver::sys;
    let cu_device = device.cuda_stream().context().cu_device();
    let mut pool = std::mem::MaybeUninit::<sys::CUmemoryPool>::uninit();
    // SAFETY: `pool` receives the device's default pool; the threshold is the u64 the attribute takes.
    unsafe {
        sys::cuDeviceGetDefaultMemPool(pool.as_mut_ptr(), cu_device)
            .result()
            .map_err(candle_core::Error::wrap)?;
        let mut threshold = u64::MAX;
        sys::cuMemPoolSetAttribute(
            pool.assume_init(),
            sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            (&mut threshold as *mut u64).cast(),
        )
        .result()
        .map_err(candle_core::Error::wrap)
    }
}
