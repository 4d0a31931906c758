//! Repo ids to local directories through the HuggingFace cache, downloading what it lacks on
//! the libuv thread pool; download progress reaches JS through a thread-safe function, and an
//! abort reaches the download through a `NativeHubCancel` it checks as it reads.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use beit::hub::{
    resolve_model_dir as resolve, CancelFlag, DownloadProgress, HubOptions, ProgressCallback, RepoFiles,
};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status, Task};
use napi_derive::napi;

use crate::error::{guard, to_js};

/// `{ revision?, cacheDir?, endpoint?, token?, localFilesOnly?, ... }`; timeouts in milliseconds.
#[napi(object)]
#[derive(Default)]
pub struct NativeHubOptions {
    pub revision: Option<String>,
    pub cache_dir: Option<String>,
    pub endpoint: Option<String>,
    pub token: Option<String>,
    pub local_files_only: Option<bool>,
    pub request_timeout_ms: Option<f64>,
    pub stall_timeout_ms: Option<f64>,
    pub lock_timeout_ms: Option<f64>,
    pub token_over_http: Option<bool>,
}

/// Stops a `resolveModelDir` call: JS calls `cancel()` when its `AbortSignal` fires, and the
/// download stops at its next chunk (or lock poll), failing with `E_ABORTED`.
#[napi]
#[derive(Default)]
pub struct NativeHubCancel {
    flag: CancelFlag,
}

#[napi]
impl NativeHubCancel {
    #[napi(constructor)]
    pub fn new() -> Self {
        Self::default()
    }

    #[napi]
    pub fn cancel(&self) {
        self.flag.cancel();
    }
}

/// One progress event: bytes of `file` on disk so far, of `total`.
#[napi(object)]
pub struct NativeDownloadProgress {
    pub file: String,
    pub downloaded: f64,
    pub total: f64,
}

/// Called with the event alone (no error-first argument). Spelled out in `resolve_model_dir`'s
/// signature too, where napi-rs derives the TypeScript type from it.
type ProgressFunction = ThreadsafeFunction<NativeDownloadProgress, (), NativeDownloadProgress, Status, false>;

pub struct ResolveTask {
    name_or_dir: String,
    files: RepoFiles,
    options: HubOptions,
}

impl Task for ResolveTask {
    type Output = PathBuf;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| resolve(&self.name_or_dir, self.files, &self.options))
    }

    fn resolve(&mut self, _env: Env, dir: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(dir.to_string_lossy().into_owned())
    }
}

fn repo_files(files: &str) -> beit::Result<RepoFiles> {
    match files {
        "model" => Ok(RepoFiles::Model),
        "config" => Ok(RepoFiles::Config),
        "processor" => Ok(RepoFiles::ImageProcessor),
        other => Err(beit::BeitError::InvalidArgument(format!(
            "unknown file set {other:?}: use \"model\", \"config\" or \"processor\""
        ))),
    }
}

/// A timeout option in milliseconds; `None` leaves it to the environment and the default.
fn millis(value: Option<f64>, name: &str) -> beit::Result<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(ms) if ms.is_finite() && ms > 0.0 && ms < 1e12 => Ok(Some(Duration::from_secs_f64(ms / 1000.0))),
        Some(ms) => Err(beit::BeitError::InvalidArgument(format!(
            "{name} must be a number of milliseconds above zero, not {ms}"
        ))),
    }
}

fn progress_callback(on_progress: ProgressFunction) -> ProgressCallback {
    let on_progress = Arc::new(on_progress);
    ProgressCallback(Arc::new(move |p: &DownloadProgress| {
        let event = NativeDownloadProgress {
            file: p.file.clone(),
            downloaded: p.downloaded as f64,
            total: p.total as f64,
        };
        on_progress.call(event, ThreadsafeFunctionCallMode::NonBlocking);
    }))
}

/// A checkpoint directory as given, or the snapshot of a HuggingFace repo id holding `files`
/// (`"model"`, `"config"` or `"processor"`), downloaded first where the cache lacks them.
#[napi(ts_return_type = "Promise<string>")]
pub fn resolve_model_dir(
    name_or_dir: String,
    files: String,
    options: Option<NativeHubOptions>,
    on_progress: Option<
        ThreadsafeFunction<NativeDownloadProgress, (), NativeDownloadProgress, Status, false>,
    >,
    cancel: Option<&NativeHubCancel>,
) -> napi::Result<napi::bindgen_prelude::AsyncTask<ResolveTask>> {
    let files = repo_files(&files).map_err(to_js)?;
    let options = options.unwrap_or_default();
    let options = HubOptions {
        revision: options.revision,
        cache_dir: options.cache_dir.map(PathBuf::from),
        endpoint: options.endpoint,
        token: options.token,
        local_files_only: options.local_files_only.unwrap_or(false),
        progress: on_progress.map(progress_callback),
        cancel: cancel.map(|c| c.flag.clone()),
        request_timeout: millis(options.request_timeout_ms, "requestTimeoutMs").map_err(to_js)?,
        stall_timeout: millis(options.stall_timeout_ms, "stallTimeoutMs").map_err(to_js)?,
        lock_timeout: millis(options.lock_timeout_ms, "lockTimeoutMs").map_err(to_js)?,
        token_over_http: options.token_over_http.unwrap_or(false),
    };
    Ok(napi::bindgen_prelude::AsyncTask::new(ResolveTask {
        name_or_dir,
        files,
        options,
    }))
}
