// The bundled digits model does real work offline: the CLI names the held-out sample digits, and
// the whole pipeline (PNG decode, bicubic resize, normalize, model) gives PyTorch's logits.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BeitForImageClassification, bundledModelDir } from '../ts/index.js';
import { digitsReference, softmax } from './helpers/digits.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist/cli.js');

const reference = digitsReference;

describe('the bundled digits model', () => {
  it('ships ten held-out samples, one per digit', () => {
    expect(reference.samples.map((s) => s.label).sort()).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  it('is what the CLI classifies the samples with, correctly, offline', () => {
    const images = reference.samples.map((s) => join(root, s.file));
    const r = spawnSync(
      process.execPath,
      [cli, 'classify', ...images, '--model', bundledModelDir(), '--top-k', '1', '--json'],
      { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1' } },
    );
    expect(r.status, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout) as { image: string; predictions: { label: string; score: number }[] }[];
    for (const [i, sample] of reference.samples.entries()) {
      const [top] = results[i]?.predictions ?? [];
      expect(top?.label, sample.file).toBe(sample.label);
      const probabilities = softmax(sample.logits);
      expect(top?.score).toBeCloseTo(Math.max(...probabilities), 4);
    }
  });

  it('gives the logits PyTorch gives for the same files', async () => {
    using model = await BeitForImageClassification.fromPretrained(bundledModelDir());
    const { pixelValues } = await (model.processor ?? expect.unreachable()).preprocess(
      reference.samples.map((s) => join(root, s.file)),
    );
    const { logits } = await model.forward({ pixelValues });
    const want = reference.samples.flatMap((s) => s.logits);
    expect(logits.dims).toEqual([reference.samples.length, 10]);
    for (const [i, w] of want.entries())
      expect(Math.abs((logits.data[i] ?? Number.NaN) - w)).toBeLessThan(1e-4 + 1e-4 * Math.abs(w));
  });

  it('keeps every label in q8, with logits near the fp32 ones of PyTorch', async () => {
    using model = await BeitForImageClassification.fromPretrained(bundledModelDir(), { dtype: 'q8' });
    const { pixelValues } = await (model.processor ?? expect.unreachable()).preprocess(
      reference.samples.map((s) => join(root, s.file)),
    );
    const { logits } = await model.forward({ pixelValues });
    let maxError = 0;
    for (const [i, sample] of reference.samples.entries()) {
      const row = Array.from(logits.data.slice(i * 10, (i + 1) * 10));
      expect(String(row.indexOf(Math.max(...row))), sample.file).toBe(sample.label);
      for (const [j, w] of sample.logits.entries()) maxError = Math.max(maxError, Math.abs((row[j] ?? Number.NaN) - w));
    }
    // Quantized (not fp32 under another name), and within 2% of the logits' scale (about 13).
    expect(maxError).toBeGreaterThan(1e-3);
    expect(maxError).toBeLessThan(0.25);
  });

  it('keeps every label in bfloat16 on the CPU, with logits near the fp32 ones of PyTorch', async () => {
    using model = await BeitForImageClassification.fromPretrained(bundledModelDir(), { dtype: 'bfloat16' });
    const { pixelValues } = await (model.processor ?? expect.unreachable()).preprocess(
      reference.samples.map((s) => join(root, s.file)),
    );
    const { logits } = await model.forward({ pixelValues });
    expect(logits.dtype).toBe('float32');
    let maxError = 0;
    for (const [i, sample] of reference.samples.entries()) {
      const row = Array.from(logits.data.slice(i * 10, (i + 1) * 10));
      expect(String(row.indexOf(Math.max(...row))), sample.file).toBe(sample.label);
      for (const [j, w] of sample.logits.entries()) maxError = Math.max(maxError, Math.abs((row[j] ?? Number.NaN) - w));
    }
    // Rounded to bf16 (8 significant bits: not fp32 under another name), within 1% of the logits' scale.
    expect(maxError).toBeGreaterThan(1e-4);
    expect(maxError).toBeLessThan(0.13);
  });
});
