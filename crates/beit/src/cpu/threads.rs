//! The threads the CPU work runs on: rayon's global pool, sized by `BEIT_NUM_THREADS` (else
//! `RAYON_NUM_THREADS`, else one thread per core), shared by every model; or, for a model loaded with
//! `threads`, a pool of its own, so that two models on one machine can each have their share of the
//! cores instead of taking turns on all of them.

use std::sync::{Arc, OnceLock};

use crate::{BeitError, Result};

/// The environment variable that sizes the shared pool.
pub const THREADS_ENV: &str = "BEIT_NUM_THREADS";

/// The most threads a pool may have: more than any CPU this runs on, few enough that a typo (a
/// million) fails with a message instead of exhausting the process's threads.
pub const MAX_THREADS: usize = 1024;

/// Sizes rayon's global pool from `BEIT_NUM_THREADS` if it is set, once per process; every later
/// call returns the first one's result. Call it before any parallel work: rayon builds its global
/// pool on first use, and its size cannot change after that.
pub fn configure_global() -> Result<()> {
    static CONFIGURED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    CONFIGURED
        .get_or_init(|| {
            let Ok(value) = std::env::var(THREADS_ENV) else {
                return Ok(());
            };
            let threads = parse_count(&value).map_err(|e| format!("{THREADS_ENV}={value:?}: {e}"))?;
            let built = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build_global();
            match built {
                Ok(()) => Ok(()),
                Err(_) if rayon::current_num_threads() == threads => Ok(()),
                Err(e) => Err(format!(
                    "{THREADS_ENV}={threads} came after the thread pool had started ({e}); set it \
                     before the process starts"
                )),
            }
        })
        .clone()
        .map_err(BeitError::InvalidArgument)
}

/// The threads of the shared pool (after `configure_global`, `BEIT_NUM_THREADS` where it is set).
pub fn global_count() -> usize {
    rayon::current_num_threads()
}

fn parse_count(value: &str) -> std::result::Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number of threads from 1 to {MAX_THREADS}"
        )),
    }
}

/// Where one model's forward passes run: the shared pool (`default()`), or a pool of its own.
#[derive(Clone, Default)]
pub struct ComputeThreads(Option<Arc<rayon::ThreadPool>>);

impl ComputeThreads {
    /// `Some(n)`: a pool of `n` threads for this model alone; `None`: the shared pool.
    pub fn new(threads: Option<usize>) -> Result<Self> {
        let Some(n) = threads else {
            return Ok(Self::default());
        };
        if !(1..=MAX_THREADS).contains(&n) {
            return Err(BeitError::InvalidArgument(format!(
                "threads must be a whole number from 1 to {MAX_THREADS}, got {n}"
            )));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("beit-compute-{i}"))
            .build()
            .map_err(|e| BeitError::Overloaded(format!("cannot start {n} compute threads: {e}")))?;
        Ok(Self(Some(Arc::new(pool))))
    }

    /// How many threads this model's work runs on.
    pub fn count(&self) -> usize {
        self.0
            .as_ref()
            .map_or_else(global_count, |pool| pool.current_num_threads())
    }

    /// Runs `f` on one of this model's threads, so that the parallel loops inside it start from
    /// within its pool (a push to the worker's own queue rather than a wake-up from outside, 2-3% of
    /// a BEiT-base forward at batch 1 on 2 cores) and use that pool's threads alone.
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.0 {
            Some(pool) => pool.install(f),
            None => rayon::scope(|_| f()),
        }
    }
}

impl std::fmt::Debug for ComputeThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(pool) => write!(f, "ComputeThreads(own, {})", pool.current_num_threads()),
            None => write!(f, "ComputeThreads(shared)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_outside_one_to_the_maximum_are_refused() {
        assert_eq!(parse_count(" 4 "), Ok(4));
        for bad in ["0", "-1", "1.5", "", "four", "1025"] {
            assert!(parse_count(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            ComputeThreads::new(Some(0)).unwrap_err().code(),
            "E_INVALID_ARGUMENT"
        );
    }

    #[test]
    fn a_pool_of_its_own_runs_on_that_many_threads() {
        let threads = ComputeThreads::new(Some(3)).unwrap();
        assert_eq!(threads.count(), 3);
        assert_eq!(threads.run(rayon::current_num_threads), 3);
        assert!(threads.run(|| rayon::current_thread_index().is_some()));
        let shared = ComputeThreads::default();
        assert_eq!(shared.run(rayon::current_num_threads), global_count());
    }
}
