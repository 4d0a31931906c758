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

/// Runs `f`, turning its error or its panic into a JS error, so no panic reaches Node.
pub fn guard<T>(f: impl FnOnce() -> beit::Result<T>) -> napi::Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(to_js),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(js_error(
                "E_INTERNAL",
                format!(
                    "internal error in beit-node ({what}); please report it with the input that caused it"
                ),
            ))
        }
    }
}
