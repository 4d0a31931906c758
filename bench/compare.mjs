// Side by side, in one run, on the same checkpoint (BEiT-base, random weights: see
// scripts/make_bench_model.py) and the same photos: beit-node vs transformers.js
// (@huggingface/transformers on onnxruntime-node, fp32 and q8) vs PyTorch eager (when a Python with
// torch and transformers is found: $BENCH_PYTHON, else python3). Model only (random pixels) and end
// to end (decode + preprocess + model + top-5), at batch 1, 8 and 32; images/s and ratios.
//   npm run build && (cd bench && npm install --ignore-scripts)
//   python scripts/make_bench_model.py && node bench/compare.mjs
// Then each contender in a fresh process: import to first result for one photo (cold start, page
// cache warm) and peak RSS after a batch-8 forward pass.
// Environment: RUNS (timed runs per figure, default 3), BATCHES (default 1,8,32).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AutoModelForImageClassification,
  env,
  pipeline,
  Tensor as TjsTensor,
} from '@huggingface/transformers';
import { BeitForImageClassification, Tensor } from '../dist/index.js';
import { medianMs } from './median.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const modelDir = join(root, 'bench/models/beit-base-random');
const imageDir = join(root, 'crates/beit/tests/fixtures/images');
const photos = ['astronaut.png', 'camera.png', 'chelsea.png', 'coffee.png', 'grace_hopper.jpg'].map((f) =>
  join(imageDir, f),
);
const runs = Number(process.env.RUNS ?? 3);
const batches = (process.env.BATCHES ?? '1,8,32').split(',').map(Number);

if (!existsSync(join(modelDir, 'onnx/model_quantized.onnx'))) {
  console.error(`${modelDir} is missing: run python scripts/make_bench_model.py first`);
  process.exit(1);
}

async function imagesPerSecond(batch, fn) {
  return (batch * 1000) / (await medianMs(fn, runs));
}

const files = (batch) => Array.from({ length: batch }, (_, i) => photos[i % photos.length]);
const randomPixels = (batch) => Float32Array.from({ length: batch * 3 * 224 * 224 }, () => Math.random() * 2 - 1);

async function beitNode() {
  const model = await BeitForImageClassification.fromPretrained(modelDir, { batching: { maxBatchSize: 64 } });
  const figures = { model_only: {}, end_to_end: {} };
  for (const b of batches) {
    const pixelValues = new Tensor(randomPixels(b), [b, 3, 224, 224]);
    figures.model_only[b] = await imagesPerSecond(b, () => model.forward({ pixelValues }));
    figures.end_to_end[b] = await imagesPerSecond(b, () => model.classify(files(b), { topK: 5 }));
  }
  await model.dispose();
  return figures;
}

async function transformersJs(dtype) {
  env.allowRemoteModels = false;
  env.localModelPath = join(modelDir, '..');
  const model = await AutoModelForImageClassification.from_pretrained('beit-base-random', { dtype });
  const classifier = await pipeline('image-classification', 'beit-base-random', { dtype });
  const figures = { model_only: {}, end_to_end: {} };
  for (const b of batches) {
    const pixel_values = new TjsTensor('float32', randomPixels(b), [b, 3, 224, 224]);
    figures.model_only[b] = await imagesPerSecond(b, () => model({ pixel_values }));
    figures.end_to_end[b] = await imagesPerSecond(b, () => classifier(files(b), { top_k: 5 }));
  }
  await model.dispose();
  await classifier.dispose();
  return figures;
}

function pytorch() {
  const python = process.env.BENCH_PYTHON ?? 'python3';
  const probe = spawnSync(python, ['-c', 'import torch, transformers'], { encoding: 'utf8' });
  if (probe.status !== 0) return undefined;
  const args = [join(root, 'bench/torch_bench.py'), modelDir, batches.join(','), String(runs), ...photos];
  const r = spawnSync(python, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`torch_bench.py failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

const contenders = {
  'beit-node fp32': await beitNode(),
  'transformers.js fp32': await transformersJs('fp32'),
  'transformers.js q8': await transformersJs('q8'),
};
const torchFigures = pytorch();
if (torchFigures) contenders[`PyTorch ${torchFigures.torch} fp32 eager`] = torchFigures;

const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
console.log(`beit-node ${version}, Node ${process.version}, ${runs} timed runs per figure (median), images/s\n`);
for (const mode of ['model_only', 'end_to_end']) {
  console.log(`${mode.replaceAll('_', ' ')}:`);
  console.log(['contender', ...batches.map((b) => `batch ${b}`)].join(' | '));
  for (const [name, f] of Object.entries(contenders)) {
    console.log([name, ...batches.map((b) => f[mode][b].toFixed(2))].join(' | '));
  }
  const ours = contenders['beit-node fp32'][mode];
  for (const [name, f] of Object.entries(contenders)) {
    if (name === 'beit-node fp32') continue;
    console.log([`beit-node / ${name}`, ...batches.map((b) => `${(ours[b] / f[mode][b]).toFixed(2)}x`)].join(' | '));
  }
  console.log('');
}

/** A fresh process, twice (the first warms the page cache); the second's JSON line. */
function coldStart(command, args) {
  let line;
  for (let i = 0; i < 2; i++) {
    const r = spawnSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${r.stderr}`);
    line = r.stdout.trim().split('\n').at(-1);
  }
  return JSON.parse(line);
}

const photo = photos[2];
const starts = {
  'beit-node fp32': coldStart(process.execPath, ['bench/cold_start.mjs', 'beit-node', modelDir, photo]),
  'transformers.js fp32': coldStart(process.execPath, ['bench/cold_start.mjs', 'transformers.js', modelDir, photo]),
};
if (torchFigures) {
  const python = process.env.BENCH_PYTHON ?? 'python3';
  starts[`PyTorch ${torchFigures.torch} fp32 eager`] = coldStart(python, ['bench/torch_cold_start.py', modelDir, photo]);
}
const weightsMiB = statSync(join(modelDir, 'model.safetensors')).size / 2 ** 20;
console.log(`cold start (import to first top-5 for one photo) and peak RSS after a batch-8 forward (weights: ${weightsMiB.toFixed(0)} MiB):`);
console.log('contender | cold start | peak RSS');
for (const [name, s] of Object.entries(starts)) {
  console.log(`${name} | ${s.seconds.toFixed(2)} s | ${s.peakRssMiB.toFixed(0)} MiB`);
}
