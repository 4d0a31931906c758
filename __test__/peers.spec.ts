// transformers.js's pipelines beside beit-node's, on the same checkpoints (the reference cases' weights;
// transformers.js runs their ONNX export, scripts/make_peer_fixtures.py) and the same pixels: the same
// fields, shapes and types for every task both run, and the same numbers where neither resizes.
// transformers.js has no BEiT segmentation class, so `image-segmentation` has no peer here.
// transformers.js comes from bench/'s dependencies: `npm run test:peers` installs them first.
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type PipelineTask, pipeline } from '../ts/index.js';
import { referenceDir } from './helpers/reference.js';

const bench = fileURLToPath(new URL('../bench/', import.meta.url));
const peers = fileURLToPath(new URL('./fixtures/peers/', import.meta.url));

interface TjsModule {
  env: { localModelPath: string; allowRemoteModels: boolean; allowLocalModels: boolean };
  pipeline(task: string, model: string, options: { dtype: string }): Promise<TjsPipeline>;
  RawImage: new (data: Uint8Array, width: number, height: number, channels: number) => unknown;
}
type TjsPipeline = ((images: unknown, options?: Record<string, unknown>) => Promise<unknown>) & {
  dispose(): Promise<void>;
};

async function transformersJs(): Promise<TjsModule> {
  const entry = join(bench, 'node_modules/@huggingface/transformers/dist/transformers.node.mjs');
  if (!existsSync(entry)) {
    throw new Error(
      'transformers.js is not installed in bench/: run `npm run test:peers` (it installs bench/ first), or `npm ci --ignore-scripts --prefix bench`',
    );
  }
  return (await import(pathToFileURL(entry).href)) as TjsModule;
}

/** A checkpoint both libraries load: the reference case's config and weights, the peer's processor and ONNX. */
function checkpoint(task: string, referenceCase: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'beit-peers-')), task);
  cpSync(join(peers, task), dir, { recursive: true });
  for (const file of ['config.json', 'model.safetensors'])
    cpSync(join(referenceDir, referenceCase, file), join(dir, file));
  return dir;
}

/** The structure of a pipeline output: keys, tensor dims and dtypes, image sizes, value types. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (value === null || typeof value !== 'object') return value === null ? null : typeof value;
  const v = value as Record<string, unknown>;
  if ('dims' in v) return { tensor: v.dims, dtype: v.dtype ?? v.type };
  if ('width' in v && 'height' in v && 'channels' in v) return { image: [v.width, v.height, v.channels] };
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, shape(v[k])]),
  );
}

/** Deterministic pixels of a `width x height` RGB image. */
function pixels(width: number, height: number): Uint8Array {
  return Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 53 + ((i / 97) | 0) * 29) % 256);
}

function values(t: unknown): number[] {
  return Array.from((t as { data: ArrayLike<number> }).data);
}

function expectNear(got: number[], want: number[], tol: number): void {
  expect(got.length).toBe(want.length);
  const worst = Math.max(0, ...got.map((g, i) => Math.abs(g - (want[i] ?? Number.NaN))));
  expect(worst).toBeLessThanOrEqual(tol);
}

/** Both pipelines of `task` on `dir`, run on one image at the model's size and on a list of two. */
async function sideBySide(
  task: PipelineTask,
  dir: string,
  [width, height]: [number, number],
  options: Record<string, unknown> = {},
) {
  const tjs = await transformersJs();
  tjs.env.localModelPath = dirname(dir);
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  const theirs = await tjs.pipeline(task, basename(dir), { dtype: 'fp32' });
  const ours = (await pipeline(task, dir)) as unknown as TjsPipeline;
  const image = { data: pixels(width, height), width, height, channels: 3 as const };
  const other = { data: pixels(width + 8, height + 16), width: width + 8, height: height + 16, channels: 3 as const };
  const tjsImage = (i: typeof image) => new tjs.RawImage(i.data, i.width, i.height, i.channels);
  const result = {
    ours: await ours(image, options),
    theirs: await theirs(tjsImage(image), options),
    oursList: await ours([image, other], options),
    theirsList: await theirs([tjsImage(image), tjsImage(other)], options),
  };
  await Promise.all([ours.dispose(), theirs.dispose()]);
  return result;
}

describe('pipelines side by side with transformers.js', () => {
  it('image-classification: [{ label, score }] in the same order with the same scores', async () => {
    const dir = checkpoint('image-classification', 'cls_relpos_meanpool');
    // The option is `topK` here and `top_k` in transformers.js: each ignores the other's.
    const r = await sideBySide('image-classification', dir, [32, 32], { top_k: 3, topK: 3 });
    expect(shape(r.ours)).toEqual(shape(r.theirs));
    expect(shape(r.oursList)).toEqual(shape(r.theirsList));
    const [ours, theirs] = [r.ours, r.theirs] as { label: string; score: number }[][];
    expect(ours?.map((c) => c.label)).toEqual(theirs?.map((c) => c.label));
    expectNear(ours?.map((c) => c.score) ?? [], theirs?.map((c) => c.score) ?? [], 1e-4);
  });

  it('image-feature-extraction: the last hidden state, or the pooled output with pool', async () => {
    const dir = checkpoint('image-feature-extraction', 'model_shared_relpos_masked');
    const plain = await sideBySide('image-feature-extraction', dir, [32, 32]);
    expect(shape(plain.ours)).toEqual(shape(plain.theirs));
    expectNear(values(plain.ours), values(plain.theirs), 1e-4);
    const pooled = await sideBySide('image-feature-extraction', dir, [32, 32], { pool: true });
    expect(shape(pooled.ours)).toEqual(shape(pooled.theirs));
    expectNear(values(pooled.ours), values(pooled.theirs), 1e-4);
    // transformers.js stacks a list into one batch; so does beit-node, for images of one size after preprocessing.
    expect(shape(pooled.oursList)).toEqual(shape(pooled.theirsList));
  });

  it('depth-estimation: { predicted_depth, depth } at the image size, the same map and picture', async () => {
    const dir = checkpoint('depth-estimation', 'dpt_beit_depth');
    const r = await sideBySide('depth-estimation', dir, [96, 64]);
    expect(shape(r.ours)).toEqual(shape(r.theirs));
    expect(shape(r.oursList)).toEqual(shape(r.theirsList));
    const [ours, theirs] = [r.ours, r.theirs] as { predicted_depth: unknown; depth: unknown }[];
    // At the model's size neither resizes, so the maps agree; the pictures then within a grey level.
    expectNear(values(ours?.predicted_depth), values(theirs?.predicted_depth), 1e-4);
    expectNear(values(ours?.depth), values(theirs?.depth), 1);
  });
});
