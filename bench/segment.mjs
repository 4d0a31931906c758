// beit-node's contender for the segmentation row of compare.mjs (and a figure of its own): a fresh
// process builds a BEiT-base sized BeitForSemanticSegmentation (random weights; hidden 768, 12
// layers, 150 labels, UperNet + auxiliary head, as the ADE20k checkpoints have), then times RUNS
// forward passes of one 640x640 image. Prints one JSON line: seconds to build, each forward's seconds,
// RSS after the build and the process's peak RSS (VmHWM), in MiB.
//   node bench/segment.mjs [RUNS]       (bench/torch_segment.py is PyTorch's counterpart)
import { readFileSync } from 'node:fs';
import { BeitConfig, BeitForSemanticSegmentation, Tensor } from '../dist/index.js';

const runs = Number(process.argv[2] ?? 1);
const mib = (kb) => kb / 1024;
/** A line of /proc/self/status in MiB (VmRSS now, VmHWM the peak). */
const status = (field) =>
  mib(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))[1]));

const start = performance.now();
const config = new BeitConfig({
  imageSize: 640,
  patchSize: 16,
  numLabels: 150,
  useRelativePositionBias: true,
  useMeanPooling: false,
  layerScaleInitValue: 0.1,
  outIndices: [3, 5, 7, 11],
  auxiliaryChannels: 256,
});
const model = await BeitForSemanticSegmentation.fromConfig(config);
const buildSeconds = (performance.now() - start) / 1000;
const rssAfterLoadMiB = status('VmRSS');
const pixelValues = new Tensor(
  new Float32Array(3 * 640 * 640).map(() => Math.random() * 2 - 1),
  [1, 3, 640, 640],
);
const forwardSeconds = [];
let dims;
for (let i = 0; i < runs; i++) {
  const t = performance.now();
  const { logits } = await model.forward({ pixelValues });
  forwardSeconds.push((performance.now() - t) / 1000);
  dims = logits.dims;
}
console.log(JSON.stringify({ buildSeconds, forwardSeconds, dims, rssAfterLoadMiB, peakRssMiB: status('VmHWM') }));
