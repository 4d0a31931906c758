//! A linear layer's weight in the form its kernel reads (packed, quantized), made at load or, for a
//! weight that stays readable where it lies (`RowSource`: a mapped checkpoint), on the layer's
//! second call. Its first call, if small, reads the weight as the source lays it out, tile by
//! tile, so that nothing is written to fresh memory before a first result: for BEiT-base that was
//! 344 MB of packed f32 weights, most of the time from `import` to the first answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use crate::ops::weight_rows::{RowSource, WeightRows};

#[derive(Debug)]
pub struct DeferredWeight<T> {
    ready: OnceLock<T>,
    /// Where the weight lies until it is ready.
    source: Option<Box<dyn RowSource>>,
    /// Whether a call has read the weight from `source` instead of making it ready.
    streamed: AtomicBool,
}

/// What one call multiplies by.
pub enum CallWeight<'a, T> {
    Ready(&'a T),
    /// As the source lays it out: the call reads each tile when it needs it.
    Rows(WeightRows<'a>),
}

impl<T> DeferredWeight<T> {
    pub fn ready(weight: T) -> Self {
        Self {
            ready: OnceLock::from(weight),
            source: None,
            streamed: AtomicBool::new(false),
        }
    }

    pub fn deferred(source: Box<dyn RowSource>) -> Self {
        Self {
            ready: OnceLock::new(),
            source: Some(source),
            streamed: AtomicBool::new(false),
        }
    }

    /// The weight for a call of `rows` rows: as the source lays it out if this is the first call
    /// and `rows <= stream_rows` (at most one image: each weight is read once per call anyway);
    /// otherwise made ready by `make` (once), after which the source's memory is released.
    pub fn for_call(
        &self,
        rows: usize,
        stream_rows: usize,
        make: impl FnOnce(&WeightRows) -> T,
    ) -> candle_core::Result<CallWeight<'_, T>> {
        if let Some(ready) = self.ready.get() {
            return Ok(CallWeight::Ready(ready));
        }
        let source = self.source()?;
        if rows <= stream_rows && !self.streamed.swap(true, Ordering::Relaxed) {
            return Ok(CallWeight::Rows(source.rows()?));
        }
        self.make_ready(source, make).map(CallWeight::Ready)
    }

    /// Makes the weight ready now if it is not (what the next call would do first).
    pub fn finish(&self, make: impl FnOnce(&WeightRows) -> T) -> candle_core::Result<()> {
        if self.ready.get().is_none() {
            self.make_ready(self.source()?, make)?;
        }
        Ok(())
    }

    fn source(&self) -> candle_core::Result<&dyn RowSource> {
        match &self.source {
            Some(source) => Ok(source.as_ref()),
            None => candle_core::bail!("a linear layer has neither its weight nor where to read it"),
        }
    }

    fn make_ready(
        &self,
        source: &dyn RowSource,
        make: impl FnOnce(&WeightRows) -> T,
    ) -> candle_core::Result<&T> {
        let rows = source.rows()?;
        let ready = self.ready.get_or_init(|| make(&rows));
        source.release();
        Ok(ready)
    }
}
