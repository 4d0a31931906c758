// DPT with a BEiT-base backbone (Intel/dpt-beit-base-384's shape, random weights: hidden 768, 12 layers,
// features of layers 3, 6, 9, 12, readout projected, neck 96-768, fusion 256) on one 384x384 image, beside
// PyTorch's (bench/torch_depth.py) in one run: seconds per forward (median of RUNS after a first call).
//   node bench/depth.mjs [RUNS]     ($BENCH_PYTHON, else python3, with torch and transformers, for the peer)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BeitConfig, DPTForDepthEstimation, Tensor } from '../dist/index.js';

const runs = Number(process.argv[2] ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function beitNode() {
  const config = new BeitConfig({
    modelType: 'dpt',
    neckHiddenSizes: [96, 192, 384, 768],
    fusionHiddenSize: 256,
    readoutType: 'project',
    backboneConfig: {
      model_type: 'beit',
      image_size: 384,
      use_relative_position_bias: true,
      out_indices: [3, 6, 9, 12],
      reshape_hidden_states: false,
    },
  });
  const model = await DPTForDepthEstimation.fromConfig(config);
  const pixelValues = new Tensor(
    Float32Array.from({ length: 3 * 384 * 384 }, () => Math.random() * 2 - 1),
    [1, 3, 384, 384],
  );
  await model.forward({ pixelValues });
  const seconds = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await model.forward({ pixelValues });
    seconds.push((performance.now() - t) / 1000);
  }
  await model.dispose();
  return median(seconds);
}

function pytorch() {
  const python = process.env.BENCH_PYTHON ?? 'python3';
  const script = fileURLToPath(new URL('./torch_depth.py', import.meta.url));
  const r = spawnSync(python, [script, String(runs)], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  return JSON.parse(r.stdout.trim().split('\n').at(-1)).median;
}

const ours = await beitNode();
const theirs = pytorch();
console.log(`DPT-BEiT-base, one 384x384 image, median of ${runs}: beit-node ${ours.toFixed(3)} s`);
if (theirs) console.log(`PyTorch ${theirs.toFixed(3)} s; beit-node at ${(theirs / ours).toFixed(2)}x PyTorch's speed`);
else console.log('PyTorch: not found (set BENCH_PYTHON to a Python with torch and transformers)');
