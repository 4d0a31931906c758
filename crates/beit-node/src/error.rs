//! The one conversion from `beit::BeitError` (and from panics) to a JS `Error`. The stable code goes
//! in front of the message as `[E_CODE] `; the TypeScript layer moves it to `err.code`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use beit::BeitError;
use napi::Status;

/// A JS error carrying `code` and `message`.
pub fn js_error(code: &str, message: impl std::fmt::Display) -> napi::Error {
    napi::Error::new(Status::GenericFailure, format!("[{code}] {message}"))
}

pub fn to_js(err: BeitError) -> napi::Error {
    js_error(err.code(), err)
}

/// Runs `f`, turning a panic in it into `E_INTERNAL` (saying what panicked, while `during`).
pub fn catch_panic<T>(during: &str, f: impl FnOnce() -> beit::Result<T>) -> beit::Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(BeitError::from_panic(during, &*payload)))
}

/// Runs `f`, turning its error or its panic into a JS error, so no panic reaches Node. First the
/// shared thread pool is sized from `BEIT_NUM_THREADS` (once; an invalid value fails every call):
/// every call that starts work passes here before any parallel loop can start the pool.
pub fn guard<T>(f: impl FnOnce() -> beit::Result<T>) -> napi::Result<T> {
    catch_panic("handling this call from JavaScript", || {
        beit::cpu::threads::configure_global()?;
        f()
    })
    .map_err(to_js)
}
