//! How a batch queue trades latency for throughput, and how much it may hold.

use std::time::Duration;

use crate::error::{BeitError, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct BatchOptions {
    /// Images per forward pass, at most (a single larger request still runs, alone).
    pub max_batch_size: usize,
    /// How long the first request of a batch waits for others to join it. Requests that arrive
    /// while a batch runs join the next one without waiting, so under load this rarely matters.
    pub max_wait: Duration,
    /// Requests waiting, at most; beyond it `submit` fails with `E_OVERLOADED`.
    pub max_queue: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            max_batch_size: 8,
            max_wait: Duration::from_millis(2),
            max_queue: 256,
        }
    }
}

impl BatchOptions {
    /// The defaults for a model on `device`: on a GPU, batches of up to 64 (a forward of one
    /// image leaves most of the GPU idle, and 64 BEiT-base images are about 10 ms on an H100) and
    /// a queue deep enough to fill them; on the CPU, `default()`.
    pub fn for_device(device: &candle_core::Device) -> Self {
        if device.is_cuda() {
            Self {
                max_batch_size: 64,
                max_wait: Duration::from_millis(5),
                max_queue: 1024,
            }
        } else {
            Self::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.max_batch_size == 0 || self.max_queue == 0 {
            return Err(BeitError::InvalidArgument(format!(
                "maxBatchSize and maxQueue must be at least 1, got {} and {}",
                self.max_batch_size, self.max_queue
            )));
        }
        if self.max_wait > Duration::from_secs(10) {
            return Err(BeitError::InvalidArgument(format!(
                "maxWaitMs must be at most 10000, got {}",
                self.max_wait.as_millis()
            )));
        }
        Ok(())
    }
}
