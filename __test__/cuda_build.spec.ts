// The CUDA build of the addon (`npm run build:cuda`) on a machine without a GPU, as CI has: it must
// be a working addon that knows it is the CUDA build, sees no device, answers a request for 'cuda'
// with E_CUDA_UNAVAILABLE and what to do, and still classifies on the CPU with the CPU build's
// numbers. It loads against the toolkit's libraries and the driver stub that `build:cuda` links
// with (scripts/cuda_toolkit.sh): the stub stands in for an NVIDIA driver that reports no GPU.
// Run by `npm run test:cuda-build` after `npm run build:cuda` (CI does both).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { digitsReference, softmax } from './helpers/digits.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const binary =
  process.env.BEIT_CUDA_BUILD_BINARY ?? join(root, 'npm/linux-x64-gnu-cuda/beit-node.linux-x64-gnu-cuda.node');
const toolkit = join(root, '.cuda-toolkit/nvidia/cu13/lib');

/** What the child process found: the binding's CUDA answers, the error for 'cuda', CPU results. */
interface Report {
  build: boolean;
  devices: number;
  info: { build: boolean; devices: number; reason?: string };
  cudaError: { code: string; message: string } | null;
  results: { label: string; score: number }[][];
}

const script = `
import { native } from './dist/native.js';
import { BeitForImageClassification, bundledModelDir, cudaInfo } from './dist/index.js';
const dir = bundledModelDir('beit-digits');
let cudaError = null;
try {
  await BeitForImageClassification.fromPretrained(dir, { device: 'cuda' });
} catch (e) {
  cudaError = { code: e.code, message: e.message };
}
const model = await BeitForImageClassification.fromPretrained(dir);
const files = ${JSON.stringify(digitsReference.samples.map((s) => s.file))};
const results = await model.classify(files, { topK: 10 });
await model.dispose();
console.log(JSON.stringify({ build: native.cudaBuild(), devices: native.cudaDevices(), info: cudaInfo(), cudaError, results }));
`;

function runWithCudaBuild(): Report {
  const env = {
    ...process.env,
    BEIT_NODE_BINARY: binary,
    LD_LIBRARY_PATH: [join(toolkit, 'stubs'), toolkit, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
  };
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    env,
  });
  if (child.status !== 0) throw new Error(`the CUDA build failed to run (${child.status}):\n${child.stderr}`);
  return JSON.parse(child.stdout) as Report;
}

describe('the CUDA build of the addon, without a GPU', () => {
  it('exists: npm run build:cuda wrote it', () => {
    expect(existsSync(binary), `${binary} is missing: run npm run build:cuda first`).toBe(true);
  });

  const report = existsSync(binary) ? runWithCudaBuild() : null;

  it('is the CUDA build and sees no device', () => {
    expect(report?.build).toBe(true);
    expect(report?.devices).toBe(0);
    // cudaInfo() says the same, without a reason: the CUDA build is the one in use.
    expect(report?.info).toEqual({ build: true, devices: 0 });
  });

  it("answers device 'cuda' with E_CUDA_UNAVAILABLE and what to do", () => {
    expect(report?.cudaError?.code).toBe('E_CUDA_UNAVAILABLE');
    expect(report?.cudaError?.message).toMatch(/no CUDA GPU is visible/);
    expect(report?.cudaError?.message).toMatch(/use device 'cpu'/);
  });

  it('classifies on the CPU with the reference numbers', () => {
    const results = report?.results ?? [];
    expect(results).toHaveLength(digitsReference.samples.length);
    digitsReference.samples.forEach((sample, i) => {
      const scores = softmax(sample.logits);
      expect(results[i]?.[0]?.label).toBe(sample.predicted);
      for (const { label, score } of results[i] ?? [])
        expect(score).toBeCloseTo(scores[Number(label)] ?? Number.NaN, 4);
    });
  });
});
