// BEiT-base 224 throughput from Node through the batching queue (a part of scripts/gpu_node_check.mjs):
// many concurrent `classify()` calls, each of one image, joined by the model's queue into batches of 64,
// as a server under load makes them. Two inputs: decoded pixels (a RawImage: resize, crop and normalize
// run where the model runs) and JPEG bytes (decoded on the CPU by the addon's thread pool first). The
// pixels figure is compared with the Rust harness's model-only images/s (gpu_check throughput, same
// dtype and batch), whose 85% it should reach.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { BeitConfig, BeitForImageClassification, BeitImageProcessor } from '../dist/index.js';

const JPEG = 'crates/beit/tests/fixtures/images/grace_hopper.jpg';
const TARGET_SHARE = 0.85;

/** Keeps `inFlight` calls of `call()` running for `seconds`; the images finished per second. */
async function sustained(call, inFlight, seconds) {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  const lane = async () => {
    while (performance.now() < until) {
      await call();
      done += 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, lane));
  return done / ((performance.now() - started) / 1000);
}

/** The Rust harness's images/s for BEiT-base at `dtype` and `batch` (its default kernels), if it ran. */
function rustFigure(file, dtype, batch) {
  if (!file) return undefined;
  try {
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map(JSON.parse);
    return lines.find((l) => l.variant === 'default' && l.dtype === dtype && l.batch === batch)?.images_per_s;
  } catch {
    return undefined;
  }
}

/** Runs both inputs; `report(check, pass, fields)` gets one line each. */
export async function queueThroughput(device, report, { dtype = 'bfloat16', batch = 64, seconds = 4, rustFile } = {}) {
  const config = new BeitConfig({ useRelativePositionBias: true, useMeanPooling: true, numLabels: 1000 });
  const batching = { maxBatchSize: batch, maxWaitMs: 5, maxQueue: 8 * batch };
  const model = await BeitForImageClassification.fromConfig(config, { device, dtype, batching });
  const processor = new BeitImageProcessor();
  const pixels = {
    data: new Uint8Array(224 * 224 * 3).map((_, i) => (i * 7919) % 251),
    width: 224,
    height: 224,
    channels: 3,
  };
  const jpeg = readFileSync(JPEG);
  const rust = rustFigure(rustFile, dtype, batch);
  try {
    for (const [input, image] of [
      ['pixels', pixels],
      ['jpeg', jpeg],
    ]) {
      const call = () => model.classify(image, { processor, topK: 1 });
      await sustained(call, 4 * batch, 1); // warm-up: kernels loaded, the memory pool grown
      const before = model.queue;
      const imagesPerS = await sustained(call, 4 * batch, seconds);
      const after = model.queue;
      const meanBatch = (after.requests - before.requests) / Math.max(1, after.batches - before.batches);
      const share = rust ? imagesPerS / rust : undefined;
      const pass = input === 'jpeg' || share === undefined || share >= TARGET_SHARE;
      report(`queue throughput ${input} ${dtype} batch ${batch}`, pass, {
        imagesPerS,
        meanBatch,
        rustModelOnlyImagesPerS: rust,
        shareOfRust: share,
        target: input === 'pixels' ? TARGET_SHARE : undefined,
        decode: input === 'jpeg' ? `CPU, the addon's decode pool over ${availableParallelism()} threads` : undefined,
      });
    }
  } finally {
    await model.dispose();
  }
}
