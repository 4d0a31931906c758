// The bounds on what one input may cost, through the JS API: refused with a code and the limit
// before anything is allocated, and the two process-wide ones settable.
import { afterEach, describe, expect, it } from 'vitest';
import {
  BeitConfig,
  BeitForImageClassification,
  getLimits,
  postProcessSemanticSegmentation,
  setLimits,
  Tensor,
} from '../ts/index.js';
import { checkpointDir, sampleCase } from './helpers/checkpoints.js';

const pixels = (side: number) => new Tensor(new Float32Array(3 * side * side), [1, 3, side, side]);
const defaults = { maxTokens: 64 * 64 + 1, maxAttentionBytes: 2 * 2 ** 30 };

describe('limits', () => {
  afterEach(() => setLimits(defaults));

  it('start at the documented defaults', () => {
    expect(getLimits()).toEqual(defaults);
  });

  it('refuse an input whose sequence is over maxTokens, until it is raised', async () => {
    const model = await BeitForImageClassification.fromPretrained(sampleCase);
    // Patch size 4: 260x260 is 65x65 patches and CLS.
    await expect(model.forward({ pixelValues: pixels(260) })).rejects.toMatchObject({
      code: 'E_SHAPE',
      message: expect.stringMatching(/4226 tokens per image, over the limit of 4097.*maxTokens/),
    });
    setLimits({ maxTokens: 10 });
    expect(getLimits().maxTokens).toBe(10);
    await expect(model.forward({ pixelValues: pixels(32) })).rejects.toMatchObject({ code: 'E_SHAPE' });
    setLimits({ maxTokens: 65 });
    const { logits } = await model.forward({ pixelValues: pixels(32) });
    expect(logits.dims).toEqual([1, 7]);
    await model.dispose();
  });

  it('refuse attention outputs over maxAttentionBytes', async () => {
    const model = await BeitForImageClassification.fromPretrained(sampleCase);
    setLimits({ maxAttentionBytes: 1000 });
    await expect(model.forward({ pixelValues: pixels(32), outputAttentions: true })).rejects.toMatchObject({
      code: 'E_SHAPE',
      message: expect.stringMatching(/limit of 1000/),
    });
    await model.dispose();
  });

  it('take whole numbers only', () => {
    expect(() => setLimits({ maxTokens: 1.5 })).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }));
    expect(() => setLimits({ maxTokens: 1 })).toThrow(/at least 2/);
    expect(() => setLimits({ maxAttentionBytes: -1 })).toThrow(/non-negative whole number/);
  });

  it('keep values past 2^32 as given (the addon takes them as floats, checks them and keeps u64s)', () => {
    setLimits({ maxTokens: 2 ** 32 + 10, maxAttentionBytes: 2 ** 32 + 10 });
    expect(getLimits()).toEqual({ maxTokens: 2 ** 32 + 10, maxAttentionBytes: 2 ** 32 + 10 });
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      for (const field of ['maxTokens', 'maxAttentionBytes']) {
        expect(() => setLimits({ [field]: bad }), `${field} ${bad}`).toThrow(
          expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }),
        );
      }
    }
    expect(() => setLimits({ maxTokens: 0 })).toThrow(/at least 2/);
    setLimits({ maxAttentionBytes: 0 });
    expect(getLimits().maxAttentionBytes).toBe(0);
  });

  it('refuse a config whose sizes no checkpoint has, before building from it', async () => {
    const dir = checkpointDir((c) => {
      c.num_hidden_layers = 1_000_000_000;
    });
    await expect(BeitForImageClassification.fromPretrained(dir)).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringMatching(/num_hidden_layers is 1000000000, over the limit of 256/),
    });
    expect(() => new BeitConfig({ numLabels: 1e9 })).toThrow(/num_labels.*over the limit/);
  });

  it('refuse post-processing to a target larger than any image', async () => {
    const logits = new Tensor(new Float32Array(3 * 8 * 8), [1, 3, 8, 8]);
    await expect(postProcessSemanticSegmentation({ logits }, [[100_000, 100_000]])).rejects.toMatchObject({
      code: 'E_SHAPE',
      message: expect.stringMatching(/100000x100000 = 10000000000 pixels, over the limit/),
    });
  });
});
