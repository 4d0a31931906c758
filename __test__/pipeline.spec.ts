// pipeline(): the model class from config.json, images through the checkpoint's processor, the numbers of
// transformers' pipelines on the reference checkpoints (scripts/make_pipeline_reference.py), and the
// outputs in the shape of transformers.js's pipelines for the same tasks (a single image unwrapped, a
// list per image for a batch; segmentation masks as one-channel 0/255 images at each input's size).
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
  Tensor,
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
    const reason = new Error('stopped by the caller');
    await expect(estimator(first, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
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

describe("pipeline() against transformers' pipelines on the reference checkpoints", () => {
  const dir = join(referenceDir, 'pipelines');
  const meta = (task: string) => JSON.parse(readFileSync(join(dir, `${task}.json`), 'utf8'));
  const want = (task: string) => readSafetensors(join(dir, `${task}.safetensors`));
  const images = ['chelsea.png', 'coffee.png'].map((f) => join(referenceDir, '..', 'images', f));

  /** A reference case's checkpoint with the processor transformers' pipelines ran with. */
  function checkpoint(name: string): string {
    const copy = mkdtempSync(join(tmpdir(), 'beit-pipeline-ref-'));
    cpSync(loadCase(name).dir, copy, { recursive: true });
    cpSync(join(dir, 'preprocessor_config.json'), join(copy, 'preprocessor_config.json'));
    return copy;
  }

  /** Row `i` of a batch, as a tensor of its own. */
  const row = (t: Tensor, i: number) => {
    const [, ...rest] = t.dims;
    const size = rest.reduce((a, b) => a * b, 1);
    return new Tensor(t.data.slice(i * size, (i + 1) * size) as Float32Array, [1, ...rest]);
  };

  it('image-classification: the same top labels and scores for each image', async () => {
    const classifier = await pipeline('image-classification', checkpoint('cls_relpos_meanpool'));
    const results = await classifier(images, { topK: 3 });
    const scores = want('image-classification');
    for (const [i, result] of results.entries()) {
      expect(result.map((r) => r.label)).toEqual(meta('image-classification').labels[i]);
      const stored = scores.get(`scores.${i}`);
      if (!stored) throw new Error(`no scores.${i}`);
      expectClose(`scores.${i}`, new Tensor(Float32Array.from(result.map((r) => r.score)), [3]), stored, 1e-4, 1e-4);
    }
    await classifier.dispose();
  });

  it('image-feature-extraction: the same last hidden state and pooled output for each image', async () => {
    const extractor = await pipeline('image-feature-extraction', checkpoint('model_shared_relpos_masked'));
    const features = want('image-feature-extraction');
    for (const [kind, pool] of [
      ['tokens', false],
      ['pooled', true],
    ] as const) {
      const out = await extractor(images, { pool });
      for (const i of [0, 1]) {
        const stored = features.get(`${kind}.${i}`);
        if (!stored) throw new Error(`no ${kind}.${i}`);
        expectClose(`${kind}.${i}`, row(out, i), stored, 1e-4, 1e-4);
      }
    }
    await extractor.dispose();
  });

  it('image-segmentation: the same classes and masks at each image size', async () => {
    const segmenter = await pipeline('image-segmentation', checkpoint('d2v_seg_upernet'));
    const results = await segmenter(images);
    const masks = want('image-segmentation');
    for (const [i, result] of results.entries()) {
      expect(result.map((r) => r.label)).toEqual(meta('image-segmentation').labels[i]);
      for (const [k, { mask }] of result.entries()) {
        const stored = masks.get(`mask.${i}.${k}`);
        if (!stored) throw new Error(`no mask.${i}.${k}`);
        expect([mask.height, mask.width]).toEqual(stored.dims);
        expect(Buffer.from(mask.data).equals(Buffer.from(stored.data as Uint8Array))).toBe(true);
      }
    }
    await segmenter.dispose();
  });
});
