// The CUDA addon from Node (scripts/gpu-check.sh, step `node`): where it found its CUDA libraries and
// what device 'auto' picks; classify, segment and estimateDepth on a GPU against the CPU, through the
// path that resizes and normalizes the images on the GPU; every reference case in float32, float16 and
// bfloat16 against the CPU (gpu_node_parity.mjs); and throughput through the batching queue
// (gpu_node_throughput.mjs). One JSON line per check, with `pass`; the exit status is 1 when any fails.
//
//   node scripts/gpu_node_check.mjs [device] [--skip parity,throughput] [--seconds S] [--rust-throughput FILE]
//
// device: cuda (default), cuda:N, or cpu to try the script. Needs the built JS (dist/) and, for CUDA,
// BEIT_NODE_BINARY set to the CUDA addon; no LD_LIBRARY_PATH (the loader finds the CUDA libraries).
import { parseArgs } from 'node:util';
import {
  AutoModelForSemanticSegmentation,
  BeitForImageClassification,
  BeitImageProcessor,
  bundledModelDir,
  cudaInfo,
  DPTForDepthEstimation,
} from '../dist/index.js';
import { referenceParity } from './gpu_node_parity.mjs';
import { queueThroughput } from './gpu_node_throughput.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    skip: { type: 'string', default: '' },
    seconds: { type: 'string', default: '4' },
    'rust-throughput': { type: 'string' },
  },
});
const device = positionals[0] ?? 'cuda';
const skip = new Set(values.skip.split(','));
const reference = 'crates/beit/tests/fixtures/reference';
const photos = ['chelsea.png', 'coffee.png', 'grace_hopper.jpg'].map((f) => `crates/beit/tests/fixtures/images/${f}`);
const digits = [3, 7].map((d) => `samples/digits/digit-${d}.png`);
let failed = false;

function report(check, pass, fields) {
  failed ||= !pass;
  console.log(JSON.stringify({ check, device, pass, ...fields }));
}

/** `run` on a model loaded by `load` on the CPU (float32), then on `device` in `dtype`. */
async function onBoth(load, dtype, run) {
  const results = [];
  for (const options of [{ device: 'cpu' }, { device, dtype }]) {
    const model = await load(options);
    try {
      results.push(await run(model));
    } finally {
      await model.dispose();
    }
  }
  return results;
}

const maxAbs = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

async function classify(dtype, tolerance) {
  const load = (o) => BeitForImageClassification.fromPretrained(bundledModelDir('beit-digits'), o);
  const [cpu, gpu] = await onBoth(load, dtype, (m) => m.classify(digits, { topK: 10 }));
  const score = (rows) =>
    rows.flatMap((row) => [...row].sort((a, b) => (a.label < b.label ? -1 : 1)).map((r) => r.score));
  const labels = (rows) => rows.map((row) => row[0].label);
  const diff = maxAbs(score(gpu), score(cpu));
  const same = labels(gpu).join() === labels(cpu).join();
  report(`classify ${dtype}`, same && diff <= tolerance, { top1: labels(gpu), maxScoreDiff: diff, tolerance });
}

async function segment(dtype, minAgreement) {
  const processor = await BeitImageProcessor.fromPretrained(`${reference}/pipelines`);
  const load = (o) => AutoModelForSemanticSegmentation.fromPretrained(`${reference}/d2v_seg_upernet`, o);
  const [cpu, gpu] = await onBoth(load, dtype, (m) => m.segment(photos, { processor }));
  let equal = 0;
  let total = 0;
  cpu.forEach((map, i) => {
    const other = gpu[i].data;
    map.data.forEach((v, j) => {
      equal += v === other[j] ? 1 : 0;
      total += 1;
    });
  });
  const agreement = equal / total;
  const dims = gpu.map((m) => m.dims);
  report(`segment ${dtype}`, agreement >= minAgreement, { dims, pixelAgreement: agreement, minAgreement });
}

async function depth(dtype, atol, rtol) {
  const load = (o) => DPTForDepthEstimation.fromPretrained(`${reference}/dpt_beit_depth`, o);
  const [cpu, gpu] = await onBoth(load, dtype, (m) => m.estimateDepth(photos.slice(0, 2)));
  let worst = 0;
  cpu.forEach((r, i) => {
    const want = r.predictedDepth.data;
    const got = gpu[i].predictedDepth.data;
    want.forEach((v, j) => {
      worst = Math.max(worst, Math.abs(got[j] - v) / (atol + rtol * Math.abs(v)));
    });
  });
  report(`estimateDepth ${dtype}`, worst <= 1, { worstErrorOverTolerance: worst, atol, rtol });
}

/** Device 'auto' takes the GPU when the CUDA build sees one, and the model says so. */
async function auto() {
  const info = cudaInfo();
  const model = await BeitForImageClassification.fromPretrained(bundledModelDir('beit-digits'), { device: 'auto' });
  await model.dispose();
  const wanted = device === 'cpu' ? 'cpu' : 'cuda';
  report('device auto', info.auto === wanted && model.device === (wanted === 'cpu' ? 'cpu' : 'cuda:0'), {
    auto: info.auto,
    modelDevice: model.device,
    libraries: info.libraries,
  });
}

console.log(JSON.stringify({ cudaInfo: cudaInfo() }));
const checks = {
  'device auto': auto,
  'classify float32': () => classify('float32', 1e-4),
  'classify bfloat16': () => classify('bfloat16', 2e-2),
  'segment float32': () => segment('float32', 0.999),
  'estimateDepth float32': () => depth('float32', 1e-4, 1e-4),
  ...(skip.has('parity') ? {} : { parity: () => referenceParity(device, report) }),
  // BEiT-base at batch 64 on a CPU would take minutes: a dry run there checks everything else.
  ...(skip.has('throughput') || device === 'cpu'
    ? {}
    : {
        throughput: () =>
          queueThroughput(device, report, { seconds: Number(values.seconds), rustFile: values['rust-throughput'] }),
      }),
};
for (const [name, check] of Object.entries(checks)) {
  try {
    await check();
  } catch (err) {
    report(name, false, { error: String(err?.stack ?? err) });
  }
}
process.exit(failed ? 1 : 0);
