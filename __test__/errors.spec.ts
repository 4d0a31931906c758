// Bad input of every kind gives a BeitError with a code and a message that says what was wrong;
// the broken-file cases run in a child process too, to show the process survives them.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BeitError,
  BeitForImageClassification,
  BeitForMaskedImageModeling,
  BeitForSemanticSegmentation,
  BeitModel,
  Tensor,
} from '../ts/index.js';
import { checkpointDir, checkpointWithWeights, sampleCase } from './helpers/checkpoints.js';
import { referenceDir } from './helpers/reference.js';

const pixels = (dims: number[]) => new Tensor(new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);

describe('bad input', () => {
  it('wrong dims, channels or dtype of pixelValues', async () => {
    const model = await BeitForImageClassification.fromPretrained(sampleCase);
    const cases: [unknown, RegExp][] = [
      [pixels([3, 32, 32]), /4 dims/],
      [pixels([1, 4, 32, 32]), /4 channels, but the model's config expects 3/],
      [pixels([1, 3, 2, 2]), /smaller than one 4x4 patch/],
      [new Tensor(new Int32Array(3 * 32 * 32), [1, 3, 32, 32]), /pixelValues must be float32, got int32/],
      [new Float32Array(3 * 32 * 32), /pixelValues must be a Tensor/],
    ];
    for (const [pixelValues, message] of cases) {
      await expect(model.forward({ pixelValues: pixelValues as Tensor })).rejects.toMatchObject({
        name: 'BeitError',
        code: 'E_SHAPE',
        message: expect.stringMatching(message),
      });
    }
    await expect(model.forward(undefined as never)).rejects.toThrow(/needs \{ pixelValues: Tensor \}/);
  });

  it('labels that do not fit the logits', async () => {
    const model = await BeitForImageClassification.fromPretrained(sampleCase);
    const labels = new Tensor(Int32Array.from([0, 99]), [2]);
    await expect(model.forward({ pixelValues: pixels([2, 3, 32, 32]), labels })).rejects.toMatchObject({
      code: 'E_SHAPE',
      message: expect.stringMatching(/label 99 is out of range/),
    });
  });

  it('a directory without config.json', async () => {
    const dir = checkpointDir();
    rmSync(join(dir, 'config.json'));
    await expect(BeitModel.fromPretrained(dir)).rejects.toMatchObject({ code: 'E_CONFIG' });
  });

  it('a config with an unknown model_type', async () => {
    const dir = checkpointDir((c) => {
      c.model_type = 'swin';
    });
    await expect(BeitModel.fromPretrained(dir)).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringMatching(/model_type is "swin", expected "beit"/),
    });
  });

  it('a truncated or corrupted weights file', async () => {
    const truncated = checkpointWithWeights((b) => b.subarray(0, b.length - 100));
    await expect(BeitModel.fromPretrained(truncated)).rejects.toMatchObject({
      code: 'E_WEIGHTS',
      message: expect.stringMatching(/model\.safetensors.*truncated or corrupted/),
    });
    const garbage = checkpointWithWeights(() => Buffer.from('not safetensors'));
    await expect(BeitModel.fromPretrained(garbage)).rejects.toMatchObject({ code: 'E_WEIGHTS' });
  });

  it('weights that do not fit the config name the tensor', async () => {
    const dir = checkpointDir((c) => {
      c.num_labels = 3;
      c.id2label = { '0': 'a', '1': 'b', '2': 'c' };
      c.label2id = undefined;
    });
    const { copyFileSync } = await import('node:fs');
    copyFileSync(join(sampleCase, 'model.safetensors'), join(dir, 'model.safetensors'));
    await expect(BeitForImageClassification.fromPretrained(dir)).rejects.toMatchObject({
      code: 'E_WEIGHTS',
      message: expect.stringMatching(/classifier\.weight/),
    });
  });

  it('an unknown device or dtype', async () => {
    await expect(BeitModel.fromPretrained(sampleCase, { device: 'tpu' as never })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
    await expect(BeitModel.fromPretrained(sampleCase, { dtype: 'int4' as never })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
  });

  it('a CUDA device on a build or machine without one', async () => {
    const err = await BeitModel.fromPretrained(sampleCase, { device: 'cuda' }).catch((e: unknown) => e);
    // Where a GPU and a CUDA build exist the model loads; everywhere else the error says why.
    if (err instanceof BeitError) expect(err.code).toBe('E_CUDA_UNAVAILABLE');
    else expect((err as BeitModel).config.hiddenSize).toBe(32);
  });

  it('broken files never take the process down', () => {
    const truncated = checkpointWithWeights((b) => b.subarray(0, 200));
    const script = join(checkpointDir(), 'probe.mjs');
    const entry = new URL('../dist/index.js', import.meta.url).href;
    writeFileSync(
      script,
      `import { BeitModel } from ${JSON.stringify(entry)};
       const codes = [];
       for (const dir of ${JSON.stringify([truncated, '/nope'])}) {
         await BeitModel.fromPretrained(dir).catch((e) => codes.push(e.code));
       }
       console.log(codes.join(','));`,
    );
    const out = execFileSync(process.execPath, [script], { encoding: 'utf8' });
    expect(out.trim()).toBe('E_WEIGHTS,E_NOT_FOUND');
  });
});

describe('bad input for the dense and pre-training heads', () => {
  const mimCase = join(referenceDir, 'mim_shared_relpos');
  const segCase = join(referenceDir, 'seg_upernet_aux');

  it('boolMaskedPos with the wrong shape', async () => {
    const model = await BeitForMaskedImageModeling.fromPretrained(mimCase);
    const boolMaskedPos = new Tensor(new Uint8Array(2 * 10), [2, 10]);
    await expect(model.forward({ pixelValues: pixels([2, 3, 32, 32]), boolMaskedPos })).rejects.toMatchObject({
      code: 'E_SHAPE',
      message: expect.stringMatching(/boolMaskedPos has dims \[2, 10\], expected \[2, 64\]/),
    });
  });

  it('masked-image-modeling labels that do not match the masked patches', async () => {
    const model = await BeitForMaskedImageModeling.fromPretrained(mimCase);
    const mask = new Uint8Array(64).fill(0);
    mask.fill(1, 0, 5);
    const labels = new Tensor(Int32Array.from([1, 2, 3]), [3]);
    const boolMaskedPos = new Tensor(mask, [1, 64]);
    await expect(model.forward({ pixelValues: pixels([1, 3, 32, 32]), boolMaskedPos, labels })).rejects.toMatchObject({
      code: 'E_SHAPE',
      message: expect.stringMatching(/labels have 3 elements, expected 5/),
    });
  });

  it('a segmentation config without exactly four out_indices', async () => {
    const dir = checkpointDir((c) => {
      c.out_indices = [1, 2, 3];
      c.out_features = undefined;
    });
    await expect(BeitForSemanticSegmentation.fromPretrained(dir)).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringMatching(/needs out_indices to list 4 layers.*got 3/),
    });
  });

  it('segmentation labels whose shape does not fit', async () => {
    const model = await BeitForSemanticSegmentation.fromPretrained(segCase);
    const labels = new Tensor(new Int32Array(32 * 32), [32, 32]);
    await expect(model.forward({ pixelValues: pixels([1, 3, 32, 32]), labels })).rejects.toMatchObject({
      code: 'E_SHAPE',
      message: expect.stringMatching(/labels must have 3 dims/),
    });
  });
});
