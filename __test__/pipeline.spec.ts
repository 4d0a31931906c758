// pipeline(): the model class from config.json, images through the checkpoint's processor, and the
// outputs in the shape of transformers.js's pipelines for the same tasks (a single image unwrapped, a
// list per image for a batch; segmentation masks as one-channel 0/255 images at each input's size).
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BeitForImageClassification,
  BeitForSemanticSegmentation,
  BeitModel,
  bundledModelDir,
  DPTForDepthEstimation,
  pipeline,
  type Tensor,
} from '../ts/index.js';
import { digitsReference } from './helpers/digits.js';
import { expectClose, loadCase, referenceDir } from './helpers/reference.js';
import { readSafetensors } from './helpers/safetensors.js';

const digits = bundledModelDir();
const samples = digitsReference.samples.slice(0, 3).map((s) => join(digits, '..', '..', s.file));

/** A reference checkpoint with an image processor sized for its 32x32 inputs. */
function withProcessor(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'beit-pipeline-'));
  cpSync(loadCase(name).dir, dir, { recursive: true });
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ size: 32, do_center_crop: false }));
  return dir;
}

describe('pipeline', () => {
  it('image-classification: the classes of one image, or one list per image, as classify gives them', async () => {
    const classifier = await pipeline('image-classification', digits);
    expect(classifier.model).toBeInstanceOf(BeitForImageClassification);
    const [first = ''] = samples;
    const one = await classifier(first, { topK: 3 });
    expect(one).toHaveLength(3);
    expect(Object.keys(one[0] ?? {}).sort()).toEqual(['label', 'score']);
    const model = classifier.model as BeitForImageClassification;
    expect(one).toEqual((await model.classify(first, { topK: 3 }))[0]);
    expect(one[0]?.label).toBe(digitsReference.samples[0]?.predicted);
    const many = await classifier(samples);
    expect(many).toHaveLength(samples.length);
    expect(many.every((labels) => labels.length === 5)).toBe(true);
    await classifier.dispose();
  });

  it('image-feature-extraction: the last hidden state, or the pooled output with pool', async () => {
    const extractor = await pipeline('image-feature-extraction', digits);
    expect(extractor.model).toBeInstanceOf(BeitModel);
    const { hiddenSize = 0 } = extractor.model.config as unknown as { hiddenSize: number };
    const tokens: Tensor = await extractor(samples);
    expect(tokens.dims[0]).toBe(samples.length);
    expect(tokens.dims[2]).toBe(hiddenSize);
    const pooled = await extractor(samples, { pool: true });
    expect(pooled.dims).toEqual([samples.length, hiddenSize]);
    await extractor.dispose();
  });

  it('image-feature-extraction: pool on a model without a pooler is refused', async () => {
    const extractor = await pipeline('image-feature-extraction', withProcessor('d2v_model_relpos_masked'));
    const image = { data: new Uint8Array(32 * 32 * 3).fill(90), width: 32, height: 32, channels: 3 as const };
    expect((await extractor(image)).dims).toEqual([1, 65, 32]);
    await expect(extractor(image, { pool: true })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringMatching(/no pooler/),
    });
    await extractor.dispose();
  });

  it('image-segmentation: one 0/255 mask per class present, at the image size, matching segment()', async () => {
    const segmenter = await pipeline('image-segmentation', withProcessor('seg_upernet_aux'));
    expect(segmenter.model).toBeInstanceOf(BeitForSemanticSegmentation);
    const data = new Uint8Array(40 * 24 * 3).map((_, i) => (i * 37) % 251);
    const image = { data, width: 40, height: 24, channels: 3 as const };
    const results = await segmenter(image);
    const [map] = await (segmenter.model as BeitForSemanticSegmentation).segment(image);
    if (!map) throw new Error('segment() returned no map');
    const classes = [...new Set(map.data as Int32Array)].sort((a, b) => a - b);
    expect(results.map((r) => r.label)).toEqual(classes.map((c) => segmenter.model.config.id2label[String(c)]));
    for (const [k, result] of results.entries()) {
      expect(result.score).toBeNull();
      expect([result.mask.width, result.mask.height, result.mask.channels]).toEqual([40, 24, 1]);
      const want = Uint8Array.from(map.data as Int32Array, (c) => (c === classes[k] ? 255 : 0));
      expect(result.mask.data).toEqual(want);
    }
    const batch = await segmenter([image, image]);
    expect(batch).toHaveLength(2);
    await segmenter.dispose();
  });

  it("depth-estimation: transformers' pipeline's predicted_depth and depth picture, per image", async () => {
    const ref = loadCase('dpt_beit_depth');
    const want = readSafetensors(join(ref.dir, 'pipeline.safetensors'));
    const estimator = await pipeline('depth-estimation', ref.dir);
    expect(estimator.model).toBeInstanceOf(DPTForDepthEstimation);
    const images = ['chelsea.png', 'astronaut.png'].map((f) => join(referenceDir, '..', 'images', f));
    const results = await estimator(images);
    expect(results).toHaveLength(2);
    for (const [i, result] of results.entries()) {
      expect(Object.keys(result).sort()).toEqual(['depth', 'predicted_depth']);
      const depth = want.get(`predicted_depth.${i}`);
      const picture = want.get(`depth.${i}`);
      if (!depth || !picture) throw new Error(`reference has no result ${i}`);
      expectClose(`predicted_depth.${i}`, result.predicted_depth, depth, 1e-4, 1e-4);
      expect([result.depth.height, result.depth.width, result.depth.channels]).toEqual([...picture.dims, 1]);
      // A depth within 1e-4 of HF's can fall on the other side of a grey level's edge.
      const off = result.depth.data.filter((v, k) => Math.abs(v - (picture.data[k] ?? 0)) > 1).length;
      expect(off).toBe(0);
    }
    const [first = ''] = images;
    const one = await estimator(first);
    expect(one.predicted_depth.dims).toEqual(results[0]?.predicted_depth.dims);
    await estimator.dispose();
  });

  it('refuses an unknown task, a missing model and a checkpoint without an image processor', async () => {
    await expect(pipeline('depth' as 'image-classification', digits)).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringMatching(/"depth" is not one of image-classification/),
    });
    await expect(pipeline('image-classification', '')).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(pipeline('image-classification', loadCase('cls_relpos_meanpool').dir)).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringMatching(/no preprocessor_config.json/),
    });
  });
});
