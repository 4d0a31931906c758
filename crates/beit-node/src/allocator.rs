//! The addon's allocator: mimalloc, told to keep freed memory for a minute.
//!
//! Inference frees and reallocates tensors of tens of MiB in every layer. glibc serves each from a
//! fresh mmap that the kernel zeroes page by page (about 230k page faults per BEiT-base batch
//! of 8, a sixth of the forward's time); mimalloc keeps the freed blocks for the next layer.
//!
//! But mimalloc hands free memory back to the OS a second after it was freed (its `purge_delay`),
//! and a 640x640 segmentation forward takes seconds: the next one got its maps (the 322 MB padded
//! input of UperNet's fused 3x3 convolution among them) from pages that the kernel had to fault
//! in and zero again, 10-15% of its time on a Zen 4. With a minute, back-to-back forwards reuse
//! the memory, as onnxruntime's CPU arena does. Memory freed more than a minute before (a disposed
//! model's too) goes back at the addon's next allocations; a process that stays idle keeps it until
//! then. The cost is RSS: it stays near the peak between forwards, and the peak of
//! bench/segment.mjs's process rose from 1,860 to 2,150 MiB there (PyTorch's: 2,600).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Milliseconds between freeing memory and returning it to the OS.
const PURGE_DELAY_MS: std::ffi::c_long = 60_000;

/// `mi_option_purge_delay` of mimalloc.h's `mi_option_t` (v2 and v3 alike), which
/// libmimalloc-sys does not name; Cargo.toml pins the version this was read from.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Runs when Node loads the addon, before any of its functions.
#[napi_derive::module_init]
fn keep_freed_memory() {
    // SAFETY: sets a plain option of mimalloc, which reads it whenever it schedules a purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
}
