import { describe, expect, it } from 'vitest';
import { BeitConfig, BeitForImageClassification, BeitModel, DPTForDepthEstimation, Tensor } from '../ts/index.js';
import { sampleCase } from './helpers/checkpoints.js';
import { loadCase } from './helpers/reference.js';

const tiny = () =>
  new BeitConfig({
    hiddenSize: 16,
    numHiddenLayers: 2,
    numAttentionHeads: 2,
    intermediateSize: 24,
    imageSize: 16,
    patchSize: 4,
    useRelativePositionBias: true,
    id2label: { '0': 'a', '1': 'b', '2': 'c' },
  });

const pixels = (b: number, h: number, w: number) =>
  new Tensor(
    Float32Array.from({ length: b * 3 * h * w }, (_, i) => Math.sin(i)),
    [b, 3, h, w],
  );

describe('model classes', () => {
  it('build from a config with random weights and report their config', async () => {
    const model = await BeitForImageClassification.fromConfig(tiny());
    expect(model.config.numLabels).toBe(3);
    const { logits } = await model.forward({ pixelValues: pixels(2, 16, 16) });
    expect(logits.dims).toEqual([2, 3]);
    expect(logits.dtype).toBe('float32');
    expect(Array.from(logits.data).every(Number.isFinite)).toBe(true);
  });

  it('return hidden states and attentions only on request', async () => {
    const model = await BeitModel.fromConfig(tiny());
    const plain = await model.forward({ pixelValues: pixels(1, 16, 16) });
    expect(plain.hiddenStates).toBeUndefined();
    expect(plain.attentions).toBeUndefined();
    expect(plain.lastHiddenState.dims).toEqual([1, 17, 16]);
    expect(plain.poolerOutput.dims).toEqual([1, 16]);
    const all = await model.forward({
      pixelValues: pixels(1, 24, 8),
      outputHiddenStates: true,
      outputAttentions: true,
    });
    expect(all.hiddenStates).toHaveLength(3);
    expect(all.attentions?.map((a) => a.dims)).toEqual([
      [1, 2, 13, 13],
      [1, 2, 13, 13],
    ]);
  });

  it('give the same result for an image alone and inside a batch', async () => {
    const model = await BeitForImageClassification.fromPretrained(sampleCase);
    const batch = pixels(3, 32, 32);
    const second = new Tensor(batch.data.slice(3 * 32 * 32, 2 * 3 * 32 * 32), [1, 3, 32, 32]);
    const [all, one] = await Promise.all([
      model.forward({ pixelValues: batch }),
      model.forward({ pixelValues: second }),
    ]);
    const row = Array.from(all.logits.data.slice(7, 14));
    for (const [i, v] of Array.from(one.logits.data).entries()) expect(v).toBeCloseTo(row[i] as number, 5);
  });

  it("DPT: a config holding its BEiT backbone's, random weights, depth at the input's size", async () => {
    const config = await BeitConfig.fromPretrained(loadCase('dpt_beit_depth').dir);
    expect(config.modelType).toBe('dpt');
    expect(config.backboneConfig).toBeInstanceOf(BeitConfig);
    expect(config.backboneConfig?.hiddenSize).toBe(32);
    expect(config.toJSON().backbone_config).toMatchObject({
      model_type: 'beit',
      hidden_size: 32,
      out_indices: [1, 2, 3, 4],
    });
    const model = await DPTForDepthEstimation.fromConfig(config);
    expect(model.config.backboneConfig?.numHiddenLayers).toBe(4);
    const { predictedDepth } = await model.forward({ pixelValues: pixels(2, 64, 96) });
    expect(predictedDepth.dims).toEqual([2, 64, 96]);
    expect(Array.from(predictedDepth.data).every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    await expect(DPTForDepthEstimation.fromConfig(tiny())).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringMatching(/needs a DPT config/),
    });
  });

  it('free their memory on dispose and refuse later calls', async () => {
    const model = await BeitModel.fromConfig(tiny());
    expect(model.disposed).toBe(false);
    await model.dispose();
    expect(model.disposed).toBe(true);
    await expect(model.forward({ pixelValues: pixels(1, 16, 16) })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringMatching(/disposed/),
    });
  });

  it('dispose at the end of a using scope', async () => {
    const model = await BeitModel.fromConfig(tiny());
    model[Symbol.dispose]();
    expect(model.disposed).toBe(true);
  });

  it('keep the event loop free while they compute', async () => {
    const model = await BeitModel.fromConfig(new BeitConfig({ ...tiny(), numHiddenLayers: 2, imageSize: 64 }));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await Promise.all(Array.from({ length: 8 }, () => model.forward({ pixelValues: pixels(4, 64, 64) })));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });
});
