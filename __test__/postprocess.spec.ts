import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { postProcessSemanticSegmentation, Tensor } from '../ts/index.js';
import { referenceDir, toTensor } from './helpers/reference.js';
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
});
