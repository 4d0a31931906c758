// Images processed where the model runs (the addon's prepareImages / forwardPrepared), the path of
// classify, segment and estimateDepth: the same numbers as preprocess + forward, each batch forwarded
// once, and an abort while the images are being prepared queues nothing.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { callNative } from '../ts/errors.js';
import { BeitForImageClassification, BeitImageProcessor, bundledModelDir, Tensor } from '../ts/index.js';
import { native } from '../ts/native.js';

const images = fileURLToPath(new URL('../crates/beit/tests/fixtures/images/', import.meta.url));
const photos = ['chelsea.png', 'grace_hopper.jpg'].map((name) => `${images}${name}`);
const dir = bundledModelDir('beit-digits');

async function loaded() {
  const model = await callNative(() => native.loadModel('BeitForImageClassification', dir, {}));
  return { model, processor: native.NativeImageProcessor.fromPretrained(dir) };
}

describe('pixels prepared on the model', () => {
  it('give the logits of preprocess + forward, and each image its decoded size', async () => {
    const { model, processor } = await loaded();
    const pixels = await callNative(() =>
      model.prepareImages(
        processor,
        photos.map((path) => ({ path })),
      ),
    );
    expect(pixels.originalSizes).toEqual([
      [300, 451],
      [600, 512],
    ]);
    const prepared = await callNative(() => model.forwardPrepared(0, pixels));
    const { pixelValues } = await (await BeitImageProcessor.fromPretrained(dir)).preprocess(photos);
    const direct = await callNative(() => model.forward(1, { pixelValues: pixelValues.toNative() }));
    const logits = (out: typeof direct) => Tensor.fromNative(out.logits ?? expect.fail('no logits')).data;
    expect(logits(prepared).length).toBe(2 * 10);
    expect(logits(prepared)).toEqual(logits(direct));
    model.dispose();
  });

  it('are forwarded once, and not after release', async () => {
    const { model, processor } = await loaded();
    const pixels = await callNative(() => model.prepareImages(processor, [{ path: photos[0] }]));
    await callNative(() => model.forwardPrepared(0, pixels));
    const again = callNative(() => model.forwardPrepared(1, pixels));
    await expect(again).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: /already forwarded/ });
    const released = await callNative(() => model.prepareImages(processor, [{ path: photos[1] }]));
    released.release();
    await expect(callNative(() => model.forwardPrepared(2, released))).rejects.toMatchObject({
      message: /prepare the images again/,
    });
    expect(model.queueStats.requests).toBe(1);
    model.dispose();
  });

  it('name a bad image, and refuse a disposed model', async () => {
    const { model, processor } = await loaded();
    const bad = callNative(() => model.prepareImages(processor, [{ path: photos[0] }, { bytes: Buffer.from('no') }]));
    await expect(bad).rejects.toMatchObject({ code: 'E_IMAGE', message: /image 1/ });
    model.dispose();
    await expect(callNative(() => model.prepareImages(processor, [{ path: photos[0] }]))).rejects.toMatchObject({
      message: /disposed/,
    });
  });

  it('refuse a processor that is not a BeitImageProcessor, saying what to pass', async () => {
    using model = await BeitForImageClassification.fromPretrained(dir);
    const processor = { preprocess: () => ({}) } as unknown as BeitImageProcessor;
    await expect(model.classify(photos[0] ?? '', { processor })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: /processor must be a BeitImageProcessor/,
    });
    expect(model.queue.requests).toBe(0);
  });

  it('queue nothing when classify is aborted while they are prepared', async () => {
    using model = await BeitForImageClassification.fromPretrained(dir);
    const controller = new AbortController();
    const reason = new Error('the user left');
    const call = model.classify(photos, { signal: controller.signal });
    controller.abort(reason);
    await expect(call).rejects.toBe(reason);
    expect(model.queue.requests).toBe(0);
    const [labels] = await model.classify(photos[0] ?? '', { topK: 1 });
    expect(labels?.[0]?.label).toMatch(/^\d$/);
    expect(model.queue.requests).toBe(1);
  });

  it("run gpu-check's node step (scripts/gpu_node_check.mjs) on the CPU against itself, every check passing", () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const run = spawnSync(process.execPath, ['scripts/gpu_node_check.mjs', 'cpu'], { cwd: root, encoding: 'utf8' });
    const checks = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((r) => 'check' in r);
    expect(checks.slice(0, 5).map((r) => [r.check, r.pass])).toEqual([
      ['device auto', true],
      ['classify float32', true],
      ['classify bfloat16', true],
      ['segment float32', true],
      ['estimateDepth float32', true],
    ]);
    // Every reference case in three dtypes (the queue's throughput is timed on GPUs only).
    const parity = checks.slice(5);
    expect(parity).toHaveLength(22 * 3);
    expect(parity.filter((r) => !r.check.startsWith('parity ') || !r.pass)).toEqual([]);
    expect(run.status, run.stderr).toBe(0);
  });
});
