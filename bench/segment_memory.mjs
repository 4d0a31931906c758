// Peak memory of one 640x640 segmentation forward with a BEiT-base sized model (random weights,
// hidden 768, 12 layers, 150 labels, UperNet + auxiliary head), as the ADE20k checkpoints have.
//   node bench/segment_memory.mjs
import { BeitConfig, BeitForSemanticSegmentation, Tensor } from '../dist/index.js';

const mib = (bytes) => (bytes / 2 ** 20).toFixed(0);
const config = new BeitConfig({
  imageSize: 640,
  patchSize: 16,
  numLabels: 150,
  useRelativePositionBias: true,
  useMeanPooling: false,
  outIndices: [3, 5, 7, 11],
  auxiliaryChannels: 256,
});
const model = await BeitForSemanticSegmentation.fromConfig(config);
const afterLoad = process.memoryUsage().rss;
const pixelValues = new Tensor(new Float32Array(3 * 640 * 640).map(() => Math.random() * 2 - 1), [1, 3, 640, 640]);
const start = performance.now();
const { logits } = await model.forward({ pixelValues });
const seconds = (performance.now() - start) / 1000;
const peak = process.resourceUsage().maxRSS * 1024;
console.log(`logits ${JSON.stringify(logits.dims)}; forward ${seconds.toFixed(1)} s`);
console.log(`RSS after load ${mib(afterLoad)} MiB; peak RSS ${mib(peak)} MiB`);
