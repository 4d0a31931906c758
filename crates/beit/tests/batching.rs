//! The request queue: concurrent requests share forward passes, each gets exactly the rows it
//! would have got alone, and the queue is bounded, cancellable and closable.

use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use beit::batching::{BatchOptions, BatchQueue};
use beit::model::Trunk;
use beit::{
    Architecture, BeitConfig, BeitPreTrainedModel, ForwardInputs, LoadOptions, ModelOutput, Result, Tensor,
};
use candle_nn::VarBuilder;

const CASE: &str = "tests/fixtures/reference/cls_relpos_meanpool";

/// A model that records the batch size of every forward pass, whether it ran on one of rayon's
/// workers, and how many had run each time the queue finished its loading; its passes can be held
/// back, and it panics on any batch that holds an image whose first pixel is `PANIC_PIXEL`.
struct Recording {
    inner: Box<dyn BeitPreTrainedModel>,
    batches: Mutex<Vec<usize>>,
    on_rayon_worker: Mutex<Vec<bool>>,
    finished_after: Mutex<Vec<usize>>,
    gate: Mutex<()>,
}

/// The first pixel of an image that makes `Recording`'s forward pass panic.
const PANIC_PIXEL: f32 = 42.0;

fn panics_on(inputs: &ForwardInputs) -> bool {
    let first = inputs
        .pixel_values
        .narrow(1, 0, 1)
        .unwrap()
        .narrow(2, 0, 1)
        .unwrap();
    let first: Vec<f32> = first
        .narrow(3, 0, 1)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    first.contains(&PANIC_PIXEL)
}

impl BeitPreTrainedModel for Recording {
    fn load(_cfg: &BeitConfig, _vb: VarBuilder) -> Result<Self> {
        Err(beit::BeitError::InvalidArgument("built by the test".into()))
    }

    fn trunk(&self) -> &Trunk {
        self.inner.trunk()
    }

    fn trunk_mut(&mut self) -> &mut Trunk {
        self.inner.trunk_mut()
    }

    fn forward(&self, inputs: &ForwardInputs) -> Result<ModelOutput> {
        let _held = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        self.batches.lock().unwrap().push(inputs.pixel_values.dims()[0]);
        let on_worker = rayon::current_thread_index().is_some();
        self.on_rayon_worker.lock().unwrap().push(on_worker);
        if panics_on(inputs) {
            panic!("the test model panics on this image");
        }
        self.inner.forward(inputs)
    }

    fn finish_loading(&self) -> Result<()> {
        let batches = self.batches.lock().unwrap().len();
        self.finished_after.lock().unwrap().push(batches);
        self.inner.finish_loading()
    }
}

fn recording() -> Arc<Recording> {
    let inner = Architecture::BeitForImageClassification
        .from_pretrained(std::path::Path::new(CASE), &LoadOptions::default())
        .unwrap();
    Arc::new(Recording {
        inner,
        batches: Mutex::new(Vec::new()),
        on_rayon_worker: Mutex::new(Vec::new()),
        finished_after: Mutex::new(Vec::new()),
        gate: Mutex::new(()),
    })
}

/// `n` different images of the case's size, one request each.
fn images(n: usize) -> Vec<ForwardInputs> {
    (0..n)
        .map(|i| {
            let pixels = Tensor::rand(-1f32, 1f32, (1, 3, 32, 32), &candle_core::Device::Cpu).unwrap();
            ForwardInputs::new((pixels + i as f64 * 0.01).unwrap())
        })
        .collect()
}

fn submit(queue: &BatchQueue, id: u64, inputs: ForwardInputs) -> Receiver<Result<ModelOutput>> {
    let (tx, rx) = channel();
    queue.submit(id, inputs, Box::new(move |out| drop(tx.send(out))));
    rx
}

/// Submits a request and waits until the inference thread has taken it.
fn submit_and_start(queue: &BatchQueue, id: u64, inputs: ForwardInputs) -> Receiver<Result<ModelOutput>> {
    let reply = submit(queue, id, inputs);
    while queue.waiting() > 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    reply
}

fn options(max_batch_size: usize, max_wait_ms: u64, max_queue: usize) -> BatchOptions {
    BatchOptions {
        max_batch_size,
        max_wait: Duration::from_millis(max_wait_ms),
        max_queue,
    }
}

fn logits(out: Result<ModelOutput>) -> Vec<f32> {
    out.unwrap()
        .logits
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn concurrent_requests_share_batches_and_get_exactly_their_own_rows() {
    let model = recording();
    let queue = BatchQueue::new(model.clone(), options(4, 200, 64)).unwrap();
    let inputs = images(10);
    let replies: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(i, x)| submit(&queue, i as u64, x.clone()))
        .collect();

    for (input, reply) in inputs.iter().zip(replies) {
        let alone = model.inner.forward(input).unwrap();
        let batched = reply.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(
            logits(batched),
            logits(Ok(alone)),
            "bit-identical to the unbatched call"
        );
    }
    assert_eq!(*model.batches.lock().unwrap(), [4, 4, 2]);
    // On the CPU inside rayon's pool, so that the forward's parallel loops start from a worker.
    assert_eq!(*model.on_rayon_worker.lock().unwrap(), [true, true, true]);
    // Once no request waits, the queue packs what the load deferred; not between batches.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while model.finished_after.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(*model.finished_after.lock().unwrap(), [3]);
}

#[test]
fn requests_that_cannot_share_a_batch_run_alone() {
    let model = recording();
    let queue = BatchQueue::new(model.clone(), options(8, 100, 64)).unwrap();
    let mut inputs = images(3);
    inputs[1].output_hidden_states = true;
    inputs[2].labels = Some(Tensor::new(&[3u32], &candle_core::Device::Cpu).unwrap());
    let replies: Vec<_> = inputs
        .into_iter()
        .enumerate()
        .map(|(i, x)| submit(&queue, i as u64, x))
        .collect();
    let outputs: Vec<ModelOutput> = replies
        .iter()
        .map(|r| r.recv_timeout(Duration::from_secs(30)).unwrap().unwrap())
        .collect();

    assert_eq!(*model.batches.lock().unwrap(), [1, 1, 1]);
    assert!(outputs[1].hidden_states.is_some());
    assert!(
        outputs[2].loss.is_some(),
        "a loss is computed on the request's own batch"
    );
}

#[test]
fn a_bad_request_fails_alone_and_its_batch_mates_succeed() {
    let model = recording();
    let queue = BatchQueue::new(model.clone(), options(8, 100, 64)).unwrap();
    let good = images(2);
    let nan = ForwardInputs::new(Tensor::full(f32::NAN, (1, 3, 32, 32), &candle_core::Device::Cpu).unwrap());
    let wrong_channels = ForwardInputs::new(
        Tensor::zeros((1, 2, 32, 32), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap(),
    );
    let replies = [
        submit(&queue, 0, good[0].clone()),
        submit(&queue, 1, wrong_channels),
        submit(&queue, 2, good[1].clone()),
        submit(&queue, 3, nan),
    ];
    let results: Vec<_> = replies
        .iter()
        .map(|r| r.recv_timeout(Duration::from_secs(30)).unwrap())
        .collect();

    assert!(results[0].is_ok() && results[2].is_ok() && results[3].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err().code(), "E_SHAPE");
}

#[test]
fn a_full_queue_refuses_and_a_waiting_request_can_be_cancelled() {
    let model = recording();
    let held = model.gate.lock().unwrap();
    let queue = BatchQueue::new(model.clone(), options(1, 0, 2)).unwrap();
    let mut inputs = images(4).into_iter();
    let running = submit_and_start(&queue, 0, inputs.next().unwrap());
    let first = submit(&queue, 1, inputs.next().unwrap());
    let _second = submit(&queue, 2, inputs.next().unwrap());
    let refused = submit(&queue, 3, inputs.next().unwrap());
    assert_eq!(refused.recv().unwrap().unwrap_err().code(), "E_OVERLOADED");

    assert!(queue.cancel(1));
    assert_eq!(first.recv().unwrap().unwrap_err().code(), "E_ABORTED");
    assert!(!queue.cancel(0), "a running request cannot be withdrawn");
    drop(held);
    assert!(running.recv_timeout(Duration::from_secs(30)).unwrap().is_ok());
}

#[test]
fn closing_fails_what_waits_and_refuses_new_requests() {
    let model = recording();
    let held = model.gate.lock().unwrap();
    let queue = BatchQueue::new(model.clone(), options(1, 0, 8)).unwrap();
    let mut inputs = images(3).into_iter();
    let running = submit_and_start(&queue, 0, inputs.next().unwrap());
    let waiting = submit(&queue, 1, inputs.next().unwrap());
    queue.close();
    assert!(waiting
        .recv()
        .unwrap()
        .unwrap_err()
        .to_string()
        .contains("disposed"));
    let refused = submit(&queue, 2, inputs.next().unwrap());
    assert!(refused
        .recv()
        .unwrap()
        .unwrap_err()
        .to_string()
        .contains("disposed"));
    drop(held);
    assert!(
        running.recv_timeout(Duration::from_secs(30)).unwrap().is_ok(),
        "the running batch completes"
    );
}

/// An image on which `Recording` panics.
fn panicking_image() -> ForwardInputs {
    let mut pixels =
        Tensor::zeros((1, 3, 32, 32), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
    pixels = pixels
        .slice_assign(
            &[0..1, 0..1, 0..1, 0..1],
            &Tensor::full(PANIC_PIXEL, (1, 1, 1, 1), &candle_core::Device::Cpu).unwrap(),
        )
        .unwrap();
    ForwardInputs::new(pixels)
}

#[test]
fn a_panicking_forward_fails_its_own_request_with_e_internal_and_the_queue_keeps_serving() {
    let model = recording();
    let held = model.gate.lock().unwrap();
    let queue = BatchQueue::new(model.clone(), options(8, 0, 64)).unwrap();
    let good = images(3);
    let running = submit_and_start(&queue, 0, good[0].clone());
    // These three wait together, so they are joined into one batch, which panics.
    let mates = [
        submit(&queue, 1, good[1].clone()),
        submit(&queue, 2, panicking_image()),
        submit(&queue, 3, good[2].clone()),
    ];
    drop(held);
    assert!(running.recv_timeout(Duration::from_secs(30)).unwrap().is_ok());
    let results: Vec<_> = mates
        .iter()
        .map(|r| r.recv_timeout(Duration::from_secs(30)).unwrap())
        .collect();
    assert!(
        results[0].is_ok() && results[2].is_ok(),
        "its batch mates are answered"
    );
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.code(), "E_INTERNAL");
    let message = err.to_string();
    assert!(
        message.contains("the test model panics on this image"),
        "{message}"
    );
    assert!(message.contains("please report it"), "{message}");
    assert_eq!(*model.batches.lock().unwrap(), [1, 3, 1, 1, 1]);

    let later = submit(&queue, 4, images(1).remove(0));
    assert!(later.recv_timeout(Duration::from_secs(30)).unwrap().is_ok());
}

#[test]
fn a_panicking_reply_costs_no_other_request_its_answer() {
    let model = recording();
    let held = model.gate.lock().unwrap();
    let queue = BatchQueue::new(model.clone(), options(8, 0, 64)).unwrap();
    let good = images(4);
    let running = submit_and_start(&queue, 0, good[0].clone());
    // One batch of three whose first reply panics, and one whose only request's reply panics.
    queue.submit(
        1,
        good[1].clone(),
        Box::new(|_| panic!("the caller's reply panics")),
    );
    let mate = submit(&queue, 2, good[2].clone());
    let alone = {
        let mut x = good[3].clone();
        x.output_hidden_states = true;
        x
    };
    queue.submit(3, alone, Box::new(|_| panic!("the caller's reply panics")));
    drop(held);
    assert!(running.recv_timeout(Duration::from_secs(30)).unwrap().is_ok());
    assert!(mate.recv_timeout(Duration::from_secs(30)).unwrap().is_ok());

    let later = submit(&queue, 4, images(1).remove(0));
    assert!(
        later.recv_timeout(Duration::from_secs(30)).unwrap().is_ok(),
        "the inference thread still serves"
    );
}
