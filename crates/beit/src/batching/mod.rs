//! Coalescing concurrent forward requests into batches on a dedicated inference thread.

mod assemble;
mod options;
mod queue;

pub use assemble::{batch_key, join, split, BatchKey};
pub use options::BatchOptions;
pub use queue::{BatchQueue, QueueStats, Reply};
