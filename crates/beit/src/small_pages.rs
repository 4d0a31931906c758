//! Asks the kernel for ordinary 4 KiB pages, not transparent huge pages, under a fresh buffer that
//! is about to be written once and then only read: the packed weights.
//!
//! mimalloc requests huge pages for large blocks. On a VM whose hypervisor takes back free guest
//! memory (free page reporting, common in the cloud), every fresh 2 MiB page then costs a fault on the
//! host as well. Writing 344 MB (BEiT-base's packed weights) took 0.29-0.40 s on huge pages in a
//! process started a few seconds after others had exited, against 0.15 s on 4 KiB pages whatever ran
//! before (huge pages were faster, 0.05 s, only when the same memory had been freed a moment
//! earlier); the whole load went from 0.27-0.53 s to 0.23-0.32 s. The forward pass reads the weights
//! in long runs: its speed did not change.

use std::mem::MaybeUninit;

/// Advises small pages for the whole pages inside `buffer` (Linux; elsewhere nothing).
pub fn small_pages<T>(buffer: &mut [MaybeUninit<T>]) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as usize;
        let start = (buffer.as_ptr() as usize).next_multiple_of(page);
        let end = (buffer.as_ptr() as usize + std::mem::size_of_val(buffer)) / page * page;
        if end > start {
            // SAFETY: [start, end) lies inside a buffer we own and have not written; the advice
            // changes only how its pages are backed. Failure is harmless, so it is ignored.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_NOHUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buffer;
}
