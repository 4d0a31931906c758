// Soak: 20,000 classify calls on the bundled digits model, the process's resident memory sampled
// as they run. After a warm-up RSS must stop growing: the figure is the growth from the end of the
// warm-up to the end, in percent, with the peak. The warm-up is long (20,000 calls) because two
// things grow for that long and then stop: V8's young generation, to its 16 MB cap, and the native
// allocator's per-thread pools (libuv's four threads, the decoders', the inference thread). Calls go 32 at a time through the batching queue, each image once as a path and once as
// bytes, so the decode, queue and reply paths all run.
//   npm run build && node bench/soak.mjs            # CALLS=20000 WARMUP=20000 IN_FLIGHT=32
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BeitForImageClassification, bundledModelDir } from '../dist/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const calls = Number(process.env.CALLS ?? 20_000);
const warmup = Number(process.env.WARMUP ?? 20_000);
const inFlight = Number(process.env.IN_FLIGHT ?? 32);
const digits = Array.from({ length: 10 }, (_, d) => join(root, 'samples/digits', `digit-${d}.png`));
const inputs = [...digits, ...digits.map((p) => readFileSync(p))];

const model = await BeitForImageClassification.fromPretrained(bundledModelDir('beit-digits'));
const rssMb = () => process.memoryUsage.rss() / 2 ** 20;

/** `n` calls, `inFlight` at a time; checks every answer and returns the RSS samples. */
async function run(n) {
  const samples = [];
  let next = 0;
  let wrong = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      const [top] = await model.classify(inputs[i % inputs.length], { topK: 1 });
      if (top[0].label !== String(i % 10)) wrong++;
      if (i % 500 === 0) samples.push(rssMb());
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker));
  samples.push(rssMb());
  return { samples, wrong };
}

const start = performance.now();
const atStart = rssMb();
await run(warmup);
const afterWarmup = rssMb();
const { samples, wrong } = await run(calls);
const end = samples.at(-1);
const peak = Math.max(...samples);
const seconds = (performance.now() - start) / 1000;
await model.dispose();
console.log(
  `${calls} calls after ${warmup} warm-up, ${inFlight} in flight, ${seconds.toFixed(1)} s: RSS ` +
    `${atStart.toFixed(1)} MB loaded, ${afterWarmup.toFixed(1)} MB after warm-up, ${end.toFixed(1)} MB at the end ` +
    `(${(((end - afterWarmup) / afterWarmup) * 100).toFixed(1)}%), peak ${peak.toFixed(1)} MB; ` +
    `${wrong} answers not the digit shown`,
);
