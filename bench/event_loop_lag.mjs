// Event-loop lag with 64 classify calls in flight: the scenario of __test__/concurrency.spec.ts
// ("keeps the event loop free"), whose pass/fail is a share of time; the milliseconds are here.
// A BEiT of 4 layers (hidden 192, 224x224, random weights), batches of 8, the 3 reference photos
// cycled. perf_hooks' monitorEventLoopDelay times a RESOLUTION ms timer (default 10) while the calls
// are in flight; the lag is how much later than RESOLUTION it fired (the histogram holds the whole
// interval). Each round reports the worst and the p99 lag and the loop's busy share
// (eventLoopUtilization). One warm-up round, then the median of RUNS rounds (default 5).
//   npm run build && node bench/event_loop_lag.mjs
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { BeitConfig, BeitForImageClassification, BeitImageProcessor } from '../dist/index.js';
import { median } from './median.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const runs = Number(process.env.RUNS ?? 5);
const resolution = Number(process.env.RESOLUTION ?? 10);
const calls = 64;
const photos = ['chelsea.png', 'grace_hopper.jpg', 'coffee.png'].map((f) =>
  join(root, 'crates/beit/tests/fixtures/images', f),
);

const config = new BeitConfig({
  imageSize: 224,
  hiddenSize: 192,
  numHiddenLayers: 4,
  numAttentionHeads: 3,
  intermediateSize: 768,
  useRelativePositionBias: true,
  numLabels: 10,
});
const model = await BeitForImageClassification.fromConfig(config, { batching: { maxBatchSize: 8 } });
const processor = new BeitImageProcessor({ size: { height: 224, width: 224 }, doCenterCrop: false });

/** One round: `calls` classify calls at once, the loop's delays and busy share meanwhile. */
async function round() {
  const delay = monitorEventLoopDelay({ resolution });
  const before = performance.eventLoopUtilization();
  const start = performance.now();
  delay.enable();
  await Promise.all(Array.from({ length: calls }, (_, i) => model.classify(photos[i % 3], { processor, topK: 1 })));
  delay.disable();
  const wallMs = performance.now() - start;
  const { utilization } = performance.eventLoopUtilization(before);
  return { wallMs, maxMs: delay.max / 1e6 - resolution, p99Ms: delay.percentile(99) / 1e6 - resolution, utilization };
}

await round();
const rounds = [];
for (let i = 0; i < runs; i++) rounds.push(await round());
const mid = (key) => median(rounds.map((r) => r[key]));
console.log(`${calls} classify calls in flight, batches of 8, ${runs} rounds, sampled every ${resolution} ms`);
console.log('| wall time | worst lag | p99 lag | loop busy |');
console.log('|---|---|---|---|');
console.log(
  `| ${mid('wallMs').toFixed(0)} ms | ${mid('maxMs').toFixed(1)} ms | ${mid('p99Ms').toFixed(1)} ms | ${(100 * mid('utilization')).toFixed(1)}% |`,
);
console.log(`worst lag of any round: ${Math.max(...rounds.map((r) => r.maxMs)).toFixed(1)} ms`);
await model.dispose();
