// Side by side, in one run, on the same checkpoint (BEiT-base, random weights: see
// scripts/make_bench_model.py) and the same photos: beit-node vs transformers.js
// (@huggingface/transformers on onnxruntime-node, fp32 and q8) vs PyTorch eager, fp32 and bf16
// autocast (when a Python with torch and transformers is found: $BENCH_PYTHON, else python3) vs
// OpenVINO's CPU plugin in f32, bf16 and NNCF int8 (bench/openvino_bench.py, when that Python has
// openvino and nncf); beit-node in fp32, q8 and bfloat16. Model only (random pixels) and end
// to end (decode + preprocess + model + top-5), at batch 1, 8 and 32; images/s and ratios.
//   npm run build && (cd bench && npm install --ignore-scripts)
//   python scripts/make_bench_model.py && node bench/compare.mjs
// Then each contender in a fresh process, in turns, RUNS times: import to first result for one photo
// (cold start, page cache warm) and peak RSS after a batch-8 forward pass; the medians. Last, one
// 640x640 semantic segmentation (BEiT-base sized UperNet model: bench/segment.mjs against
// bench/torch_segment.py), each contender in a fresh process per round, SEGMENT_ROUNDS rounds (default
// 3, 0 to skip) of SEGMENT_RUNS forward passes (default 2); median seconds and peak RSS.
// The contenders take turns, one timed call each per round (see below); the figure is the median.
// Environment: RUNS (timed rounds per figure, default 5), BATCHES (default 1,8,32), MODES (default
// model_only,end_to_end), BENCH_TORCH_BF16=1 (PyTorch's bf16 autocast and OpenVINO's bf16 hint even on a
// CPU without bf16 arithmetic), COLD_ROUNDS (cold starts, default RUNS, 0 to skip), SEGMENT_ROUNDS,
// SEGMENT_RUNS (below).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AutoModelForImageClassification, env, pipeline, Tensor as TjsTensor } from '@huggingface/transformers';
import { BeitForImageClassification, cpuInfo, Tensor } from '../dist/index.js';
import { cpuDescription, cpuFlags } from './cpu.mjs';
import { median } from './median.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const modelDir = join(root, 'bench/models/beit-base-random');
const imageDir = join(root, 'crates/beit/tests/fixtures/images');
const photos = ['astronaut.png', 'camera.png', 'chelsea.png', 'coffee.png', 'grace_hopper.jpg'].map((f) =>
  join(imageDir, f),
);
const runs = Number(process.env.RUNS ?? 5);
const batches = (process.env.BATCHES ?? '1,8,32').split(',').map(Number);

if (!existsSync(join(modelDir, 'onnx/model_quantized.onnx'))) {
  console.error(`${modelDir} is missing: run python scripts/make_bench_model.py first`);
  process.exit(1);
}

const files = (batch) => Array.from({ length: batch }, (_, i) => photos[i % photos.length]);
const randomPixels = (batch) => Float32Array.from({ length: batch * 3 * 224 * 224 }, () => Math.random() * 2 - 1);
const modes = (process.env.MODES ?? 'model_only,end_to_end').split(',');

/** Seconds one call of `fn` takes. */
async function seconds(fn) {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

// A contender: `run(mode, batch)` does one call and resolves to its seconds; `close()` frees it.
async function beitNode(dtype) {
  const model = await BeitForImageClassification.fromPretrained(modelDir, { dtype, batching: { maxBatchSize: 64 } });
  const pixels = new Map(batches.map((b) => [b, new Tensor(randomPixels(b), [b, 3, 224, 224])]));
  return {
    run: (mode, b) =>
      seconds(() =>
        mode === 'model_only' ? model.forward({ pixelValues: pixels.get(b) }) : model.classify(files(b), { topK: 5 }),
      ),
    close: () => model.dispose(),
  };
}

async function transformersJs(dtype) {
  env.allowRemoteModels = false;
  env.localModelPath = join(modelDir, '..');
  const model = await AutoModelForImageClassification.from_pretrained('beit-base-random', { dtype });
  const classifier = await pipeline('image-classification', 'beit-base-random', { dtype });
  const pixels = new Map(batches.map((b) => [b, new TjsTensor('float32', randomPixels(b), [b, 3, 224, 224])]));
  return {
    run: (mode, b) =>
      seconds(() =>
        mode === 'model_only' ? model({ pixel_values: pixels.get(b) }) : classifier(files(b), { top_k: 5 }),
      ),
    close: async () => {
      await model.dispose();
      await classifier.dispose();
    },
  };
}

/**
 * A Python peer that answers one request per line (`mode batch` in, seconds out), after a first JSON line
 * about itself: `{ info, run, close }`, or undefined when `python -c probe` fails (packages missing).
 */
async function pythonPeer(script, args, probe) {
  const python = process.env.BENCH_PYTHON ?? 'python3';
  if (spawnSync(python, ['-c', probe]).status !== 0) return undefined;
  const child = spawn(python, [join(root, 'bench', script), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`${script} ended early (its error is above)`);
    return value;
  };
  const info = JSON.parse(await next());
  return {
    info,
    run: async (mode, b) => {
      child.stdin.write(`${mode} ${b}\n`);
      return Number(await next());
    },
    close: () => child.stdin.end(),
  };
}

/** PyTorch eager (`flags`: `--bf16` for autocast), or undefined without torch. */
async function pytorch(flags = []) {
  const peer = await pythonPeer('torch_bench.py', [...flags, modelDir, ...photos], 'import torch, transformers');
  return peer && { ...peer, name: `PyTorch ${peer.info.torch} ${peer.info.precision}`, version: peer.info.torch };
}

/** OpenVINO's CPU plugin (`variant` f32, bf16 or int8), or undefined without `openvino` and `nncf`. */
async function openvino(variant) {
  const args = [variant, modelDir, ...photos];
  const peer = await pythonPeer('openvino_bench.py', args, 'import openvino, nncf, transformers');
  return peer && { ...peer, name: `OpenVINO ${peer.info.openvino.split('-')[0]} ${variant}` };
}

const contenders = {
  'beit-node fp32': await beitNode('float32'),
  'beit-node q8': await beitNode('q8'),
  'beit-node bf16': await beitNode('bfloat16'),
  'transformers.js fp32': await transformersJs('fp32'),
  'transformers.js q8': await transformersJs('q8'),
};
const torch = await pytorch();
if (torch) contenders[torch.name] = torch;
// PyTorch's bf16 autocast on a CPU that cannot multiply bf16 (no AVX512_BF16, AMX or arm64 BF16) converts
// every operand and runs many times slower than its fp32: a minute per batch of 32 on a Zen 3, for no
// figure anyone would deploy. It runs where the CPU has bf16, or with BENCH_TORCH_BF16=1.
const cpuHasBf16 = cpuFlags().some((f) => ['avx512_bf16', 'amx_bf16', 'bf16'].includes(f));
const torchBf16 = torch && (cpuHasBf16 || process.env.BENCH_TORCH_BF16 === '1') && (await pytorch(['--bf16']));
if (torchBf16) contenders[torchBf16.name] = torchBf16;
// OpenVINO's bf16 hint, like PyTorch's autocast, only where the CPU multiplies bf16 (or asked for).
const ovVariants = cpuHasBf16 || process.env.BENCH_TORCH_BF16 === '1' ? ['f32', 'bf16', 'int8'] : ['f32', 'int8'];
const ov = {};
for (const variant of ovVariants) {
  const contender = await openvino(variant);
  if (!contender) break;
  ov[variant] = contender.name;
  contenders[contender.name] = contender;
}

// Interleaved: each round times every contender once, so that the VM's slow spells (it has
// neighbours) fall on all of them alike instead of on whichever ran at the time.
const figures = Object.fromEntries(Object.keys(contenders).map((name) => [name, { model_only: {}, end_to_end: {} }]));
for (const b of batches) {
  for (const mode of modes) {
    const times = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]));
    for (let round = -1; round < runs; round++) {
      for (const [name, contender] of Object.entries(contenders)) {
        const s = await contender.run(mode, b);
        if (round >= 0) times[name].push(s);
      }
    }
    for (const [name, t] of Object.entries(times)) figures[name][mode][b] = b / median(t);
  }
}
for (const contender of Object.values(contenders)) await contender.close();

const ratios = [
  ['beit-node fp32', torch?.name],
  ['beit-node fp32', 'transformers.js fp32'],
  ['beit-node q8', 'transformers.js q8'],
  ['beit-node q8', 'transformers.js fp32'],
  ['beit-node bf16', torchBf16?.name],
  ['beit-node bf16', 'beit-node fp32'],
  ['beit-node fp32', ov.f32],
  ['beit-node bf16', ov.bf16],
  ['beit-node q8', ov.int8],
];
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const kernels = cpuInfo();
console.log(
  `beit-node ${version}, Node ${process.version}, ${runs} interleaved timed rounds per figure (median), images/s`,
);
console.log(`${cpuDescription()}; beit-node kernels: ${kernels.active} (detected ${kernels.detected})\n`);
for (const mode of modes) {
  console.log(`${mode.replaceAll('_', ' ')}:`);
  console.log(['contender', ...batches.map((b) => `batch ${b}`)].join(' | '));
  for (const [name, f] of Object.entries(figures)) {
    console.log([name, ...batches.map((b) => f[mode][b].toFixed(2))].join(' | '));
  }
  for (const [ours, theirs] of ratios) {
    const [a, b] = [figures[ours]?.[mode], figures[theirs]?.[mode]];
    if (!a || !b) continue;
    console.log([`${ours} / ${theirs}`, ...batches.map((n) => `${(a[n] / b[n]).toFixed(2)}x`)].join(' | '));
  }
  console.log('');
}

/** One cold start: a fresh process's JSON line. */
function coldStart([command, ...args]) {
  const r = spawnSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

/** Each contender's cold start and peak RSS, `rounds` fresh processes each, printed. */
function coldStarts(rounds) {
  const photo = photos[2];
  const starters = {};
  for (const dtype of ['fp32', 'q8', 'bf16']) {
    // transformers.js has no bf16 CPU path.
    for (const contender of dtype === 'bf16' ? ['beit-node'] : ['beit-node', 'transformers.js']) {
      starters[`${contender} ${dtype}`] = [process.execPath, 'bench/cold_start.mjs', contender, modelDir, photo, dtype];
    }
  }
  if (torch) {
    starters[torch.name] = [process.env.BENCH_PYTHON ?? 'python3', 'bench/torch_cold_start.py', modelDir, photo];
  }
  // A first round warms the page cache; then `rounds` rounds, contenders in turn, as above. Each round
  // starts one further down the list: on this kind of VM a process that follows one that freed a lot
  // of memory (PyTorch, 1.2 GiB) pays for touching fresh memory again, and that should not always be
  // the same contender.
  const coldRuns = Object.fromEntries(Object.keys(starters).map((name) => [name, []]));
  const order = Object.entries(starters);
  for (let round = 0; round <= rounds; round++) {
    const shift = round % order.length;
    for (const [name, command] of [...order.slice(shift), ...order.slice(0, shift)]) {
      const result = coldStart(command);
      if (round > 0) coldRuns[name].push(result);
    }
  }
  const starts = Object.fromEntries(
    Object.entries(coldRuns).map(([name, results]) => [
      name,
      {
        seconds: median(results.map((r) => r.seconds)),
        peakRssMiB: median(results.map((r) => r.peakRssMiB)),
      },
    ]),
  );
  const weightsMiB = statSync(join(modelDir, 'model.safetensors')).size / 2 ** 20;
  console.log(
    `cold start (import to first top-5 for one photo) and peak RSS after a batch-8 forward, medians of ${rounds} (weights: ${weightsMiB.toFixed(0)} MiB):`,
  );
  console.log('contender | cold start | peak RSS');
  for (const [name, s] of Object.entries(starts)) {
    console.log(`${name} | ${s.seconds.toFixed(2)} s | ${s.peakRssMiB.toFixed(0)} MiB`);
  }
}

const coldRounds = Number(process.env.COLD_ROUNDS ?? runs);
if (coldRounds > 0) coldStarts(coldRounds);

/** One fresh process's segmentation figures (its JSON line). */
function segmentRun(command) {
  const r = spawnSync(command[0], command.slice(1), { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${command.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

const segmentRounds = Number(process.env.SEGMENT_ROUNDS ?? 3);
const segmentRuns = String(process.env.SEGMENT_RUNS ?? 2);
if (segmentRounds > 0) {
  const segmenters = { 'beit-node fp32': [process.execPath, 'bench/segment.mjs', segmentRuns] };
  if (torch) {
    segmenters[`PyTorch ${torch.version} fp32 eager`] = [
      process.env.BENCH_PYTHON ?? 'python3',
      'bench/torch_segment.py',
      segmentRuns,
    ];
  }
  const results = Object.fromEntries(Object.keys(segmenters).map((name) => [name, []]));
  // In turns, the first contender alternating, as for the cold starts.
  const order = Object.entries(segmenters);
  for (let round = 0; round < segmentRounds; round++) {
    const shift = round % order.length;
    for (const [name, command] of [...order.slice(shift), ...order.slice(0, shift)]) {
      results[name].push(segmentRun(command));
    }
  }
  const figures = Object.fromEntries(
    Object.entries(results).map(([name, rs]) => [
      name,
      { seconds: median(rs.flatMap((r) => r.forwardSeconds)), peakRssMiB: median(rs.map((r) => r.peakRssMiB)) },
    ]),
  );
  console.log(
    `\nsemantic segmentation, one 640x640 image, BEiT-base sized UperNet model (150 labels), model only; medians of ${segmentRounds} processes x ${segmentRuns} forwards:`,
  );
  console.log('contender | forward | images/s | peak RSS');
  for (const [name, f] of Object.entries(figures)) {
    console.log(`${name} | ${f.seconds.toFixed(2)} s | ${(1 / f.seconds).toFixed(3)} | ${f.peakRssMiB.toFixed(0)} MiB`);
  }
  const [ours, theirs] = Object.values(figures);
  if (theirs) {
    console.log(
      `beit-node / PyTorch | ${(theirs.seconds / ours.seconds).toFixed(2)}x speed | | ${(ours.peakRssMiB / theirs.peakRssMiB).toFixed(2)}x peak RSS`,
    );
  }
}
