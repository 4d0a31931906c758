// Preprocessing speed and exactness, beit-node vs transformers.js, in one run on the same files:
// 8 photos (the 5 reference photos, cycled) decoded and processed to 224x224 with the config of
// microsoft/beit-base-patch16-224 (bilinear, mean/std 0.5). Medians of several runs; exactness is
// the difference from HF transformers' own pixel values (computed with Pillow) for the same files.
//   npm run build && (cd bench && npm install) && node bench/preprocess.mjs
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AutoImageProcessor, env, RawImage } from '@huggingface/transformers';
import { BeitImageProcessor } from '../dist/index.js';
import { medianMs } from './median.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const reference = join(root, 'crates/beit/tests/fixtures/reference/processor/cls224_bilinear');
const imageDir = join(root, 'crates/beit/tests/fixtures/images');
const photos = JSON.parse(readFileSync(join(reference, 'case.json'), 'utf8')).images;
const files = Array.from({ length: 8 }, (_, i) => join(imageDir, photos[i % photos.length]));
const runs = Number(process.env.RUNS ?? 15);

env.allowRemoteModels = false;
env.localModelPath = join(reference, '..');
const theirs = await AutoImageProcessor.from_pretrained('cls224_bilinear');
const ours = await BeitImageProcessor.fromPretrained(reference);

const oursOnce = async () => (await ours.preprocess(files)).pixelValues.data;
const theirsOnce = async () => {
  const images = await Promise.all(files.map((f) => RawImage.read(f)));
  return (await theirs(images)).pixel_values.data;
};

const median = (fn) => medianMs(fn, runs);

/** Max and mean |difference| from HF's pixel values, in grey levels (values are (x/255 - 0.5)/0.5). */
function errorVsHf(data) {
  const expected = readSafetensors(join(reference, 'expected.safetensors'));
  const plane = 3 * 224 * 224;
  let max = 0;
  let sum = 0;
  for (let i = 0; i < photos.length; i++) {
    const want = expected.get(`pixel_values.${i}`);
    for (let j = 0; j < plane; j++) {
      const d = Math.abs(data[i * plane + j] - want[j]) * 127.5;
      max = Math.max(max, d);
      sum += d;
    }
  }
  return { max, mean: sum / (photos.length * plane) };
}

function readSafetensors(path) {
  const file = readFileSync(path);
  const n = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + n).toString());
  const out = new Map();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const bytes = file.subarray(8 + n + info.data_offsets[0], 8 + n + info.data_offsets[1]);
    out.set(name, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)));
  }
  return out;
}

const oursMs = await median(oursOnce);
const theirsMs = await median(theirsOnce);
const oursErr = errorVsHf(await oursOnce());
const theirsErr = errorVsHf(await theirsOnce());
const fmt = (e) => `max ${e.max.toFixed(1)}, mean ${e.mean.toFixed(2)} grey levels`;
console.log(`8 photos -> [8, 3, 224, 224], median of ${runs} runs`);
console.log(
  `beit-node        ${oursMs.toFixed(1)} ms  (${(8000 / oursMs).toFixed(0)} images/s)  vs HF: ${fmt(oursErr)}`,
);
console.log(
  `transformers.js  ${theirsMs.toFixed(1)} ms  (${(8000 / theirsMs).toFixed(0)} images/s)  vs HF: ${fmt(theirsErr)}`,
);
console.log(`speed-up: ${(theirsMs / oursMs).toFixed(2)}x`);
