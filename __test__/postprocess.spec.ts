import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { postProcessDepthEstimation, postProcessSemanticSegmentation, Tensor } from '../ts/index.js';
import { expectClose, referenceDir, toTensor } from './helpers/reference.js';
import { readSafetensors } from './helpers/safetensors.js';

const expected = readSafetensors(join(referenceDir, 'processor/labels_reduce_nearest/expected.safetensors'));

function stored(name: string) {
  const t = expected.get(name);
  if (!t) throw new Error(`reference has no ${name}`);
  return t;
}

describe('postProcessSemanticSegmentation', () => {
  const logits = toTensor(stored('pp_logits'));

  it('resizes the logits to each target size and takes the arg-max, like HF', async () => {
    const maps = await postProcessSemanticSegmentation({ logits }, [
      [31, 17],
      [9, 7],
    ]);
    for (const [i, map] of maps.entries()) {
      const want = stored(`pp_segmentation.${i}`);
      expect(map.dtype).toBe('int32');
      expect(map.dims).toEqual(want.dims);
      expect(Array.from(map.data)).toEqual(Array.from(want.data));
    }
  });

  it('keeps the native resolution without target sizes', async () => {
    const maps = await postProcessSemanticSegmentation({ logits });
    const want = stored('pp_segmentation_native');
    expect(maps.map((m) => m.dims)).toEqual([
      [9, 7],
      [9, 7],
    ]);
    expect(maps.flatMap((m) => Array.from(m.data))).toEqual(Array.from(want.data));
  });

  it('rejects sizes that do not match the batch, and logits of the wrong rank', async () => {
    await expect(postProcessSemanticSegmentation({ logits }, [[4, 4]])).rejects.toMatchObject({
      code: 'E_SHAPE',
      message: expect.stringMatching(/1 sizes for a batch of 2/),
    });
    const flat = new Tensor(new Float32Array(10), [2, 5]);
    await expect(postProcessSemanticSegmentation({ logits: flat })).rejects.toMatchObject({ code: 'E_SHAPE' });
  });

  it('refuses target sizes that are not integers from 1 to 2^31 before the addon wraps them', async () => {
    for (const bad of [2 ** 32 + 10, 0, -1, 1.5, Number.NaN]) {
      await expect(
        postProcessSemanticSegmentation({ logits }, [
          [9, 7],
          [bad, 7],
        ]),
        String(bad),
      ).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
        message: `targetSizes[1][0] must be an integer from 1 to 2147483648, got ${bad}`,
      });
    }
    await expect(postProcessSemanticSegmentation({ logits }, [[9, 7], 5 as never])).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
  });
});

describe('postProcessDepthEstimation', () => {
  const dir = join(referenceDir, 'dpt_beit_depth');
  const predicted = readSafetensors(join(dir, 'expected.safetensors')).get('predicted_depth');
  const want = readSafetensors(join(dir, 'post_processed.safetensors'));
  if (!predicted) throw new Error('dpt_beit_depth has no predicted_depth');
  const predictedDepth = toTensor(predicted);

  it('resizes each depth map bicubically and pictures it in 8 bits, like HF', async () => {
    const results = await postProcessDepthEstimation({ predictedDepth }, [
      [50, 70],
      [130, 90],
    ]);
    expect(results).toHaveLength(2);
    for (const [i, { predictedDepth: depth, depth: picture }] of results.entries()) {
      const depthWant = want.get(`depth.${i}`);
      const pictureWant = want.get(`picture.${i}`);
      if (!depthWant || !pictureWant) throw new Error(`reference has no depth.${i}`);
      expectClose(`depth.${i}`, depth, depthWant, 1e-4, 1e-4);
      expect([picture.height, picture.width, picture.channels]).toEqual([...pictureWant.dims, 1]);
      expect(Array.from(picture.data)).toEqual(Array.from(pictureWant.data));
    }
  });

  it('keeps the model resolution without sizes and refuses sizes that miss the batch', async () => {
    const [first] = await postProcessDepthEstimation({ predictedDepth });
    expect(first?.predictedDepth.dims).toEqual([64, 96]);
    await expect(postProcessDepthEstimation({ predictedDepth }, [[5, 5]])).rejects.toMatchObject({ code: 'E_SHAPE' });
    await expect(
      postProcessDepthEstimation({ predictedDepth: new Tensor(new Float32Array(4), [2, 2]) }),
    ).rejects.toMatchObject({ code: 'E_SHAPE' });
  });

  it('refuses target sizes that are not integers from 1 to 2^31 before the addon wraps them', async () => {
    for (const bad of [2 ** 32 + 10, 0, -1, 1.5, Number.NaN]) {
      await expect(
        postProcessDepthEstimation({ predictedDepth }, [
          [5, bad],
          [5, 5],
        ]),
        String(bad),
      ).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
        message: `targetSizes[0][1] must be an integer from 1 to 2147483648, got ${bad}`,
      });
    }
  });
});
