//! A model's request queue: concurrent forward requests wait here, a dedicated inference thread
//! takes them in arrival order, joins those that fit together into one batch (up to
//! `max_batch_size` images, waiting at most `max_wait` for company), runs one forward pass and
//! hands each request its own rows. The queue is bounded, requests can be cancelled while they
//! wait, and closing it fails what waits and lets the thread end (dropping the model).
//!
//! Every step of the thread runs under `catch_unwind`: a panic (in a forward pass, in joining or
//! splitting a batch, in a reply) fails the requests it touched with `E_INTERNAL` and the thread
//! goes on serving the next ones. A reply that is never sent (a panic unwound past it) is sent as
//! `E_INTERNAL` when it is dropped, so no request is left without an answer.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::assemble::{batch_key, images_in, join, split, BatchKey};
use super::options::BatchOptions;
use crate::cpu::threads::ComputeThreads;
use crate::error::{BeitError, Result};
use crate::output::{ForwardInputs, ModelOutput};
use crate::pretrained::BeitPreTrainedModel;

/// Receives a request's output, on the inference thread.
pub type Reply = Box<dyn FnOnce(Result<ModelOutput>) + Send>;

struct Request {
    id: u64,
    inputs: ForwardInputs,
    key: Option<BatchKey>,
    images: usize,
    arrived: Instant,
    reply: ReplyOnce,
}

/// A request's reply, sent exactly once: by `send`, or as `E_INTERNAL` if it is dropped unsent.
struct ReplyOnce(Option<Reply>);

impl ReplyOnce {
    fn send(&mut self, result: Result<ModelOutput>) {
        if let Some(reply) = self.0.take() {
            deliver(reply, result);
        }
    }
}

impl Drop for ReplyOnce {
    fn drop(&mut self) {
        self.send(Err(BeitError::Internal(
            "internal error in beit: the inference thread dropped this request without an \
             answer; please report it"
                .into(),
        )));
    }
}

/// Calls a reply: a panic in it is the caller's and must not cost the other requests theirs.
fn deliver(reply: Reply, result: Result<ModelOutput>) {
    let _ = catch_unwind(AssertUnwindSafe(|| reply(result)));
}

#[derive(Default)]
struct State {
    waiting: VecDeque<Request>,
    closed: bool,
    stats: QueueStats,
}

/// What waits in the queue now, and what it has run so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Requests waiting now.
    pub waiting: u64,
    /// Forward passes run.
    pub batches: u64,
    /// Requests answered by them.
    pub requests: u64,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    options: BatchOptions,
    threads: ComputeThreads,
}

pub struct BatchQueue {
    shared: Arc<Shared>,
}

fn disposed() -> BeitError {
    BeitError::InvalidArgument("this model was disposed: load it again to use it".into())
}

impl BatchQueue {
    /// Starts the inference thread of `model`, its CPU forwards on the shared pool.
    pub fn new(model: Arc<dyn BeitPreTrainedModel>, options: BatchOptions) -> Result<Self> {
        Self::with_threads(model, options, ComputeThreads::default())
    }

    /// Starts the inference thread of `model`, its CPU forwards (and the packing the load left for
    /// later) on `threads`.
    pub fn with_threads(
        model: Arc<dyn BeitPreTrainedModel>,
        options: BatchOptions,
        threads: ComputeThreads,
    ) -> Result<Self> {
        options.validate()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            options,
            threads,
        });
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("beit-inference".into())
            .spawn(move || worker.run(model.as_ref()))
            .map_err(|e| BeitError::Overloaded(format!("cannot start an inference thread: {e}")))?;
        Ok(Self { shared })
    }

    /// Queues a request. Every request gets exactly one reply, on the inference thread, or here
    /// at once when it is refused (`E_OVERLOADED` when the queue is full, or the model was
    /// disposed); the result says whether it was queued. `id` names it for `cancel`.
    pub fn submit(&self, id: u64, inputs: ForwardInputs, reply: Reply) -> bool {
        let mut state = self.shared.lock();
        let limit = self.shared.options.max_queue;
        let refusal = if state.closed {
            Some(disposed())
        } else if state.waiting.len() >= limit {
            Some(BeitError::Overloaded(format!(
                "{limit} requests are already waiting for this model: retry later, or raise maxQueue"
            )))
        } else {
            None
        };
        if let Some(err) = refusal {
            drop(state);
            deliver(reply, Err(err));
            return false;
        }
        state.waiting.push_back(Request {
            id,
            key: batch_key(&inputs),
            images: images_in(&inputs),
            inputs,
            arrived: Instant::now(),
            reply: ReplyOnce(Some(reply)),
        });
        self.shared.changed.notify_all();
        true
    }

    /// Withdraws a request that has not started; its reply gets `E_ABORTED`. False if it has
    /// started (or finished): its result will still arrive.
    pub fn cancel(&self, id: u64) -> bool {
        let request = {
            let mut state = self.shared.lock();
            let position = state.waiting.iter().position(|r| r.id == id);
            position.and_then(|i| state.waiting.remove(i))
        };
        match request {
            Some(mut r) => {
                r.reply.send(Err(BeitError::Aborted(
                    "the request was aborted before it ran".into(),
                )));
                true
            }
            None => false,
        }
    }

    /// Fails every waiting request and lets the thread end after the batch it runs.
    pub fn close(&self) {
        let waiting = {
            let mut state = self.shared.lock();
            state.closed = true;
            self.shared.changed.notify_all();
            std::mem::take(&mut state.waiting)
        };
        for mut request in waiting {
            request.reply.send(Err(disposed()));
        }
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.shared.lock().waiting.len()
    }

    pub fn stats(&self) -> QueueStats {
        let state = self.shared.lock();
        QueueStats {
            waiting: state.waiting.len() as u64,
            ..state.stats
        }
    }
}

impl Drop for BatchQueue {
    fn drop(&mut self) {
        self.close();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The inference thread: batches until the queue is closed. Each step is caught, so that a
    /// panic fails only the requests it touched; should the loop itself ever unwind, the queue
    /// closes and fails what waits, rather than leave it waiting for a thread that is gone.
    fn run(&self, model: &dyn BeitPreTrainedModel) {
        let _closes = CloseOnUnwind(self);
        let mut loaded = false;
        loop {
            let mut batch = match catch_unwind(AssertUnwindSafe(|| self.next_batch())) {
                Ok(Some(batch)) => batch,
                Ok(None) => return,
                Err(payload) => {
                    // Choosing a batch looks at every waiting request; failing them all also keeps
                    // a panic that would recur on the same queue from spinning.
                    let err = BeitError::from_panic("choosing the next batch", &*payload);
                    self.fail_waiting(&err.to_string());
                    continue;
                }
            };
            if let Err(payload) =
                catch_unwind(AssertUnwindSafe(|| run_batch(model, &self.threads, &mut batch)))
            {
                let err = BeitError::from_panic("answering a batch", &*payload).to_string();
                for request in &mut batch {
                    request.reply.send(Err(BeitError::Internal(err.clone())));
                }
            }
            drop(batch); // its inputs' memory goes back before the idle wait
            if !loaded && self.stays_idle(IDLE_BEFORE_FINISHING) {
                loaded = finish_loading(model, &self.threads);
            }
        }
    }

    /// Takes every waiting request out of the queue and fails it with `E_INTERNAL`.
    fn fail_waiting(&self, message: &str) {
        let waiting = std::mem::take(&mut self.lock().waiting);
        for mut request in waiting {
            request.reply.send(Err(BeitError::Internal(message.into())));
        }
    }

    /// Whether no request arrives (and the queue stays open) for `wait`.
    fn stays_idle(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut state = self.lock();
        while state.waiting.is_empty() && !state.closed {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        false
    }

    /// Blocks until a batch is due: full, or its first request has waited `max_wait`.
    fn next_batch(&self) -> Option<Vec<Request>> {
        let mut state = self.lock();
        loop {
            let Some(first) = state.waiting.front() else {
                if state.closed {
                    return None;
                }
                state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            };
            let deadline = first.arrived + self.options.max_wait;
            let now = Instant::now();
            if now >= deadline || first.key.is_none() || self.full(&state.waiting) {
                let batch = take_batch(&mut state.waiting, self.options.max_batch_size);
                state.stats.batches += 1;
                state.stats.requests += batch.len() as u64;
                return Some(batch);
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn full(&self, waiting: &VecDeque<Request>) -> bool {
        let key = waiting.front().and_then(|r| r.key.as_ref());
        let images: usize = waiting
            .iter()
            .filter(|r| r.key.as_ref() == key)
            .map(|r| r.images)
            .sum();
        images >= self.options.max_batch_size
    }
}

/// Closes the queue when the inference thread unwinds (see `Shared::run`).
struct CloseOnUnwind<'a>(&'a Shared);

impl Drop for CloseOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().closed = true;
            self.0.fail_waiting(
                "internal error in beit: the inference thread stopped; load the model again, and \
                 please report it",
            );
        }
    }
}

/// The first request and, in arrival order, those that can join it within `max_images`.
fn take_batch(waiting: &mut VecDeque<Request>, max_images: usize) -> Vec<Request> {
    let Some(first) = waiting.pop_front() else {
        return Vec::new();
    };
    let mut images = first.images;
    let key = first.key.clone();
    let mut batch = vec![first];
    if key.is_none() {
        return batch;
    }
    let mut rest = VecDeque::with_capacity(waiting.len());
    for request in waiting.drain(..) {
        if request.key == key && images + request.images <= max_images {
            images += request.images;
            batch.push(request);
        } else {
            rest.push_back(request);
        }
    }
    *waiting = rest;
    batch
}

/// A forward pass whose panic is reported as `E_INTERNAL` (with what panicked). On the CPU it runs
/// on one of the model's compute threads (see `ComputeThreads::run`). GPU forwards stay on this
/// thread, where their CUDA context is.
fn forward(
    model: &dyn BeitPreTrainedModel,
    threads: &ComputeThreads,
    inputs: &ForwardInputs,
) -> Result<ModelOutput> {
    let on_cpu = inputs.pixel_values.device().is_cpu();
    catch_unwind(AssertUnwindSafe(|| {
        if on_cpu {
            threads.run(|| model.forward(inputs))
        } else {
            model.forward(inputs)
        }
    }))
    .unwrap_or_else(|payload| Err(BeitError::from_panic("running a forward pass", &*payload)))
}

/// How long the queue waits, idle, before it packs what the load deferred: time for the caller's own
/// work on a first result (in Node: converting it, a softmax and a sort, about 10 ms cold), which
/// packing on every core would otherwise slow down.
const IDLE_BEFORE_FINISHING: Duration = Duration::from_millis(100);

/// Packs the weights that the load left for later (see `DeferredWeight`), now that no request
/// waits, rather than at the start of the next one; whether that is done. A failure here is not
/// this request's: the next forward pass meets it again and reports it.
fn finish_loading(model: &dyn BeitPreTrainedModel, threads: &ComputeThreads) -> bool {
    matches!(
        catch_unwind(AssertUnwindSafe(|| threads.run(|| model.finish_loading()))),
        Ok(Ok(()))
    )
}

/// Runs a batch and replies to each request. If the joined batch fails (an error or a panic in
/// joining, the forward pass or splitting), each request runs alone, so the one at fault gets its
/// own error and the others their results.
fn run_batch(model: &dyn BeitPreTrainedModel, threads: &ComputeThreads, batch: &mut [Request]) {
    if batch.len() > 1 {
        if let Ok(parts) = run_joined(model, threads, batch) {
            for (request, part) in batch.iter_mut().zip(parts) {
                request.reply.send(Ok(part));
            }
            return;
        }
    }
    for request in batch {
        run_alone(model, threads, request);
    }
}

/// One forward pass over the joined inputs of `batch`, cut back into each request's output.
fn run_joined(
    model: &dyn BeitPreTrainedModel,
    threads: &ComputeThreads,
    batch: &[Request],
) -> Result<Vec<ModelOutput>> {
    catch_unwind(AssertUnwindSafe(|| {
        let inputs: Vec<&ForwardInputs> = batch.iter().map(|r| &r.inputs).collect();
        let sizes: Vec<usize> = batch.iter().map(|r| r.images).collect();
        split(&forward(model, threads, &join(&inputs)?)?, &sizes)
    }))
    .unwrap_or_else(|payload| Err(BeitError::from_panic("running a batch", &*payload)))
}

/// One request's own forward pass and reply (both caught: see `forward` and `deliver`).
fn run_alone(model: &dyn BeitPreTrainedModel, threads: &ComputeThreads, request: &mut Request) {
    let output = forward(model, threads, &request.inputs);
    request.reply.send(output);
}

/// The last-resort guards, which no public path reaches unless the code above has a bug.
#[cfg(test)]
mod tests {
    use std::sync::mpsc::{channel, Receiver};

    use super::*;

    fn reply() -> (ReplyOnce, Receiver<Result<ModelOutput>>) {
        let (tx, rx) = channel();
        (ReplyOnce(Some(Box::new(move |r| drop(tx.send(r))))), rx)
    }

    #[test]
    fn a_reply_dropped_unsent_answers_e_internal_and_a_sent_one_only_once() {
        let (unsent, rx) = reply();
        drop(unsent);
        assert_eq!(rx.recv().unwrap().unwrap_err().code(), "E_INTERNAL");
        let (mut sent, rx) = reply();
        sent.send(Err(BeitError::Aborted("first".into())));
        drop(sent);
        assert_eq!(rx.recv().unwrap().unwrap_err().code(), "E_ABORTED");
        assert!(rx.try_recv().is_err(), "one reply only");
    }

    #[test]
    fn an_unwinding_inference_loop_closes_the_queue_and_fails_what_waits() {
        let shared = Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            options: BatchOptions::default(),
            threads: ComputeThreads::default(),
        };
        let (reply, rx) = reply();
        let pixels =
            candle_core::Tensor::zeros((1, 3, 4, 4), candle_core::DType::F32, &candle_core::Device::Cpu);
        shared.lock().waiting.push_back(Request {
            id: 0,
            inputs: ForwardInputs::new(pixels.unwrap()),
            key: None,
            images: 1,
            arrived: Instant::now(),
            reply,
        });
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            let _closes = CloseOnUnwind(&shared);
            panic!("a bug in the loop");
        }));
        assert!(unwound.is_err());
        assert!(shared.lock().closed);
        let err = rx.recv().unwrap().unwrap_err();
        assert_eq!(err.code(), "E_INTERNAL");
        assert!(err.to_string().contains("please report it"), "{err}");
    }
}
