// What the reduced precisions cost in accuracy: the same images through the same checkpoint in
// float32 and in q8 or bfloat16, logits compared (max and mean absolute difference, and the logits'
// own scale) and top-1 labels matched. Two checkpoints: the bundled digits model (trained; its 10
// held-out samples) and the BEiT-base of compare.mjs (random weights; the 5 reference photos), and for
// comparison the same BEiT-base in transformers.js, its q8 ONNX against its fp32 one (needs bench/'s
// npm install).
//   npm run build && python scripts/make_bench_model.py && node bench/accuracy.mjs
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BeitForImageClassification, bundledModelDir } from '../dist/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const list = (dir) =>
  readdirSync(dir)
    .sort()
    .map((f) => join(dir, f));
const base = join(root, 'bench/models/beit-base-random');
const photos = list(join(root, 'crates/beit/tests/fixtures/images'));
const digits = list(join(root, 'samples/digits'));
const cases = [
  ['beit-node q8, beit-digits (trained)', bundledModelDir(), digits, [logits, 'float32', 'q8']],
  ['beit-node bf16, beit-digits (trained)', bundledModelDir(), digits, [logits, 'float32', 'bfloat16']],
  ['beit-node q8, BEiT-base (random)', base, photos, [logits, 'float32', 'q8']],
  ['beit-node bf16, BEiT-base (random)', base, photos, [logits, 'float32', 'bfloat16']],
  ['transformers.js q8, BEiT-base (random)', base, photos, [transformersJsLogits, 'fp32', 'q8']],
];

async function logits(dir, dtype, images) {
  const model = await BeitForImageClassification.fromPretrained(dir, { dtype });
  const { pixelValues } = await model.processor.preprocess(images);
  const { logits } = await model.forward({ pixelValues });
  await model.dispose();
  return logits;
}

async function transformersJsLogits(dir, dtype, images) {
  const { AutoModelForImageClassification, AutoProcessor, RawImage, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = join(dir, '..');
  const name = dir.split('/').at(-1);
  const model = await AutoModelForImageClassification.from_pretrained(name, { dtype });
  const processor = await AutoProcessor.from_pretrained(name);
  const { pixel_values } = await processor(await Promise.all(images.map((f) => RawImage.read(f))));
  const { logits } = await model({ pixel_values });
  await model.dispose();
  return logits;
}

const argmax = (row) => row.indexOf(Math.max(...row));

console.log('checkpoint | images | max abs logit error | mean abs logit error | max abs fp32 logit | top-1 agreement');
for (const [name, dir, images, [run, full, reduced]] of cases) {
  if (!existsSync(dir)) {
    console.log(`${name} | missing: run python scripts/make_bench_model.py`);
    continue;
  }
  const [exact, low] = [await run(dir, full, images), await run(dir, reduced, images)];
  const labels = exact.dims[1];
  let [max, sum, scale, agree] = [0, 0, 0, 0];
  for (let i = 0; i < images.length; i++) {
    const a = Array.from(exact.data.slice(i * labels, (i + 1) * labels));
    const b = Array.from(low.data.slice(i * labels, (i + 1) * labels));
    for (let j = 0; j < labels; j++) {
      const e = Math.abs(a[j] - b[j]);
      [max, sum, scale] = [Math.max(max, e), sum + e, Math.max(scale, Math.abs(a[j]))];
    }
    if (argmax(a) === argmax(b)) agree++;
  }
  const mean = sum / (images.length * labels);
  console.log(
    `${name} | ${images.length} | ${max.toFixed(4)} | ${mean.toFixed(4)} | ${scale.toFixed(3)} | ${agree}/${images.length}`,
  );
}
