// What the reduced precisions cost in accuracy: the same images through the same checkpoint in
// float32 and in q8 or bfloat16, logits compared (max and mean absolute difference, and the logits'
// own scale), top-1 labels matched, and for the digits the top-1 accuracy against the true labels.
// Two checkpoints: the bundled digits model (trained; its 360 held-out images, or its 10 samples
// without Python) and the BEiT-base of compare.mjs (random weights; the 5 reference photos). Beside
// beit-node, each peer against its own float32: transformers.js's q8 ONNX (needs bench/'s npm install)
// and OpenVINO's bf16 hint and NNCF int8 (bench/openvino_accuracy.py, when $BENCH_PYTHON, else python3,
// has openvino, nncf, torch, transformers and scikit-learn; it also writes the held-out digits).
//   npm run build && python scripts/make_bench_model.py && node bench/accuracy.mjs
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/** OpenVINO's logits (see openvino_accuracy.py), or undefined without its Python packages. */
function openvino(outDir) {
  const python = process.env.BENCH_PYTHON ?? 'python3';
  const script = join(root, 'bench/openvino_accuracy.py');
  const r = spawnSync(python, [script, outDir, bundledModelDir(), base, ...photos], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) {
    console.error(`no OpenVINO rows: ${python} ${script} failed (its error is above)`);
    return undefined;
  }
  return JSON.parse(r.stdout);
}

/** beit-node's logits of `images`, one array per image. */
async function logits(dir, dtype, images) {
  const model = await BeitForImageClassification.fromPretrained(dir, { dtype });
  const { pixelValues } = await model.processor.preprocess(images);
  const { logits } = await model.forward({ pixelValues });
  await model.dispose();
  return rows(logits.data, logits.dims[1]);
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
  return rows(logits.data, logits.dims[1]);
}

const rows = (data, width) =>
  Array.from({ length: data.length / width }, (_, i) => Array.from(data.slice(i * width, (i + 1) * width)));
const argmax = (row) => row.indexOf(Math.max(...row));

/** One line of the table: `low` against `exact`, and against `labels` where known. */
function report(name, exact, low, labels) {
  let [max, sum, scale, agree] = [0, 0, 0, 0];
  exact.forEach((a, i) => {
    a.forEach((x, j) => {
      const e = Math.abs(x - low[i][j]);
      [max, sum, scale] = [Math.max(max, e), sum + e, Math.max(scale, Math.abs(x))];
    });
    if (argmax(a) === argmax(low[i])) agree++;
  });
  const n = exact.length;
  const correct = (rs) => rs.filter((r, i) => argmax(r) === labels[i]).length;
  const accuracy = labels ? `${correct(low)}/${n} (float32 ${correct(exact)}/${n})` : '';
  const mean = sum / (n * exact[0].length);
  console.log(
    `${name} | ${n} | ${max.toFixed(4)} | ${mean.toFixed(4)} | ${scale.toFixed(3)} | ${agree}/${n} | ${accuracy}`,
  );
}

const outDir = mkdtempSync(join(tmpdir(), 'beit-accuracy-'));
const ov = existsSync(base) ? openvino(outDir) : undefined;
const digits = ov ? ov.digits.files : list(join(root, 'samples/digits'));
const digitLabels = ov?.digits.labels;

console.log(
  'checkpoint | images | max abs logit error | mean abs logit error | max abs fp32 logit | top-1 agreement | top-1 accuracy',
);
const digitsF32 = await logits(bundledModelDir(), 'float32', digits);
for (const dtype of ['q8', 'bfloat16']) {
  const low = await logits(bundledModelDir(), dtype, digits);
  report(`beit-node ${dtype}, beit-digits (trained)`, digitsF32, low, digitLabels);
}
if (ov) {
  for (const variant of ['int8', 'bf16']) {
    const name = `OpenVINO ${ov.openvino} ${variant}, beit-digits (trained)`;
    report(name, ov.digits.f32, ov.digits[variant], digitLabels);
  }
}
if (existsSync(base)) {
  const baseF32 = await logits(base, 'float32', photos);
  for (const dtype of ['q8', 'bfloat16']) {
    report(`beit-node ${dtype}, BEiT-base (random)`, baseF32, await logits(base, dtype, photos));
  }
  for (const variant of ov ? ['int8', 'bf16'] : []) {
    report(`OpenVINO ${ov.openvino} ${variant}, BEiT-base (random)`, ov.base.f32, ov.base[variant]);
  }
  const tjs = [await transformersJsLogits(base, 'fp32', photos), await transformersJsLogits(base, 'q8', photos)];
  report('transformers.js q8, BEiT-base (random)', ...tjs);
} else {
  console.log('BEiT-base (random) | missing: run python scripts/make_bench_model.py');
}
rmSync(outDir, { recursive: true, force: true });
