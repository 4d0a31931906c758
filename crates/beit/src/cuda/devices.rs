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
