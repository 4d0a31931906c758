//! Advice to the kernel about the pages under a buffer (Unix; elsewhere nothing): give back the
//! pages of a read-only file mapping once its data was read, and back a fresh buffer with ordinary
//! 4 KiB pages rather than transparent huge pages.
//!
//! Small pages go under the packed weights, which are written once and then only read. mimalloc
//! requests huge pages for large blocks. On a VM whose hypervisor takes back free guest memory (free
//! page reporting, common in the cloud), every fresh 2 MiB page then costs a fault on the host as
//! well. Writing 344 MB (BEiT-base's packed weights) took 0.29-0.40 s on huge pages in a process
//! started a few seconds after others had exited, against 0.15 s on 4 KiB pages whatever ran before
//! (huge pages were faster, 0.05 s, only when the same memory had been freed a moment earlier); the
//! whole load went from 0.27-0.53 s to 0.23-0.32 s. The forward pass reads the weights in long runs:
//! its speed did not change.

use std::mem::MaybeUninit;

/// Drops the process's mapping of the pages under `bytes` (a read-only file mapping); the data
/// stays readable (a later read faults the page cache's copy back in).
pub fn release_pages(bytes: &[u8]) {
    advise(bytes.as_ptr(), bytes.len(), Advice::DontNeed);
}

/// Asks for 4 KiB pages under `buffer`, which nothing has written yet.
pub fn small_pages<T>(buffer: &mut [MaybeUninit<T>]) {
    advise(
        buffer.as_ptr().cast(),
        std::mem::size_of_val(buffer),
        Advice::NoHugePage,
    );
}

enum Advice {
    DontNeed,
    NoHugePage,
}

/// `madvise` over the whole pages inside `len` bytes at `start` (a neighbour's pages may be in use);
/// whether the kernel took the advice.
#[cfg(unix)]
fn advise(start: *const u8, len: usize, advice: Advice) -> bool {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as usize;
    let first = (start as usize).next_multiple_of(page);
    let end = (start as usize + len) / page * page;
    let advice = match advice {
        Advice::DontNeed => libc::MADV_DONTNEED,
        #[cfg(target_os = "linux")]
        Advice::NoHugePage => libc::MADV_NOHUGEPAGE,
        // Only Linux has transparent huge pages.
        #[cfg(not(target_os = "linux"))]
        Advice::NoHugePage => return false,
    };
    // SAFETY: [first, end) lies inside a live buffer or read-only file mapping of the caller's;
    // dropping a read-only mapping's pages or choosing the page size of unwritten memory changes
    // no contents. Failure is harmless: the caller may only fall back.
    end <= first || unsafe { libc::madvise(first as *mut libc::c_void, end - first, advice) } == 0
}

#[cfg(not(unix))]
fn advise(_: *const u8, _: usize, _: Advice) -> bool {
    false
}
