// classify() and segment(): HF's pipelines on top of preprocess + forward + post-processing.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BeitForImageClassification, BeitForSemanticSegmentation, BeitImageProcessor } from '../ts/index.js';
import { referenceDir } from './helpers/reference.js';

const images = ['chelsea.png', 'grace_hopper.jpg', 'coffee.png'].map((f) => join(referenceDir, '../images', f));
const preprocessor = { size: { height: 32, width: 32 }, do_center_crop: false, resample: 2 };

/** A reference checkpoint plus a preprocessor_config.json sized for its 32x32 inputs. */
function withProcessor(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'beit-pipeline-'));
  for (const file of ['config.json', 'model.safetensors'])
    copyFileSync(join(referenceDir, name, file), join(dir, file));
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(preprocessor));
  return dir;
}

describe('pipelines', () => {
  it('classify returns the top-k labels with softmax scores, per image', async () => {
    const model = await BeitForImageClassification.fromPretrained(withProcessor('cls_relpos_meanpool'));
    expect(model.processor).toBeDefined();
    const results = await model.classify(images, { topK: 3 });
    expect(results).toHaveLength(3);
    const { pixelValues } = await new BeitImageProcessor({
      size: { height: 32, width: 32 },
      doCenterCrop: false,
      resample: 2,
    }).preprocess(images);
    const { logits } = await model.forward({ pixelValues });
    for (const [i, top] of results.entries()) {
      expect(top).toHaveLength(3);
      const row = Array.from(logits.data.subarray(i * 7, (i + 1) * 7));
      const best = row.indexOf(Math.max(...row));
      expect(top[0]?.label).toBe(model.config.id2label[String(best)]);
      const scores = top.map((t) => t.score);
      expect(scores).toEqual([...scores].sort((a, b) => b - a));
      const expected = 1 / row.reduce((s, v) => s + Math.exp(v - (row[best] as number)), 0);
      expect(top[0]?.score).toBeCloseTo(expected, 6);
    }
  });

  it('segment returns a label map at each image size', async () => {
    const model = await BeitForSemanticSegmentation.fromPretrained(withProcessor('seg_upernet_aux'));
    const maps = await model.segment(images);
    expect(maps.map((m) => m.dims)).toEqual([
      [300, 451],
      [600, 512],
      [400, 600],
    ]);
    for (const map of maps) {
      expect(map.dtype).toBe('int32');
      expect(Array.from(map.data).every((v) => v >= 0 && v < 6)).toBe(true);
    }
  });

  it('say what to do when the checkpoint has no processor', async () => {
    const model = await BeitForImageClassification.fromPretrained(join(referenceDir, 'cls_relpos_meanpool'));
    await expect(model.classify(images)).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringMatching(/no preprocessor_config\.json\): pass \{ processor \}/),
    });
    const processor = new BeitImageProcessor({ size: 32, doCenterCrop: false });
    expect(await model.classify(images[0] as string, { processor, topK: 1 })).toHaveLength(1);
  });
});
