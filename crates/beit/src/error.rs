//! The one error type of the crate. Every variant maps to a stable code that the Node bindings
//! hand to JavaScript as `err.code`, so callers can branch on the kind of failure.

use std::path::PathBuf;

/// Everything that can go wrong in `beit`, grouped by what the caller has to fix.
#[derive(Debug, thiserror::Error)]
pub enum BeitError {
    /// A config file or config value is unusable.
    #[error("{0}")]
    Config(String),
    /// A weights file is missing, unreadable, corrupted, or lacks / mis-shapes a tensor.
    #[error("{0}")]
    Weights(String),
    /// An input tensor has the wrong rank, dims or dtype.
    #[error("{0}")]
    Shape(String),
    /// An argument that is neither a shape nor a config problem (unknown device, dtype, option).
    #[error("{0}")]
    InvalidArgument(String),
    /// An image could not be read or does not fit (the message names the image).
    #[error("{0}")]
    Image(String),
    /// A model, repo, revision or file does not exist where it was looked for.
    #[error("{0}")]
    NotFound(String),
    /// The hub could not be reached, or a transfer broke off.
    #[error("{0}")]
    Network(String),
    /// The hub refused a request or answered in a way that is not the hub's.
    #[error("{0}")]
    Hub(String),
    /// The hub cache cannot take a download (not writable, a stale partial file, a held lock).
    #[error("{0}")]
    Cache(String),
    /// A model's request queue is full.
    #[error("{0}")]
    Overloaded(String),
    /// A request was withdrawn before it ran.
    #[error("{0}")]
    Aborted(String),
    /// The caller asked for a CUDA device that this build or this machine cannot provide.
    #[error("{0}")]
    CudaUnavailable(String),
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A bug in beit: code that should not fail did (a caught panic). The message says what
    /// failed and asks for a report.
    #[error("{0}")]
    Internal(String),
    /// An error raised inside candle while running the model (with what to do about the GPU
    /// failures that have a known remedy).
    #[error("tensor computation failed: {}", crate::gpu_failure::with_advice(.0))]
    Candle(#[from] candle_core::Error),
}

impl BeitError {
    /// The stable, machine-readable code of this error (`E_SHAPE`, `E_CONFIG`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            BeitError::Config(_) => "E_CONFIG",
            BeitError::Weights(_) => "E_WEIGHTS",
            BeitError::Shape(_) => "E_SHAPE",
            BeitError::InvalidArgument(_) => "E_INVALID_ARGUMENT",
            BeitError::Image(_) => "E_IMAGE",
            BeitError::NotFound(_) => "E_NOT_FOUND",
            BeitError::Network(_) => "E_NETWORK",
            BeitError::Hub(_) => "E_HUB",
            BeitError::Cache(_) => "E_CACHE",
            BeitError::Overloaded(_) => "E_OVERLOADED",
            BeitError::Aborted(_) => "E_ABORTED",
            BeitError::CudaUnavailable(_) => "E_CUDA_UNAVAILABLE",
            BeitError::Io { .. } => "E_IO",
            BeitError::Candle(_) => "E_COMPUTE",
            BeitError::Internal(_) => "E_INTERNAL",
        }
    }

    /// The error for a panic caught while `during` (what the code was doing, e.g. "running a
    /// forward pass"), with the panic's own message when it has one.
    pub fn from_panic(during: &str, payload: &(dyn std::any::Any + Send)) -> Self {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        BeitError::Internal(format!(
            "internal error in beit while {during} ({what}); please report it with the input \
             that caused it"
        ))
    }

    /// A weights error of the file at `path`, its message prefixed with the path; others unchanged.
    pub(crate) fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            BeitError::Weights(msg) => BeitError::Weights(format!("{}: {msg}", path.display())),
            other => other,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BeitError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, BeitError>;
