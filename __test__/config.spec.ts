import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BeitConfig, BeitError } from '../ts/index.js';
import { checkpointDir, sampleCase } from './helpers/checkpoints.js';

describe('BeitConfig', () => {
  it('has every HF field with its default', () => {
    const config = new BeitConfig();
    expect(config.hiddenSize).toBe(768);
    expect(config.numHiddenLayers).toBe(12);
    expect(config.layerNormEps).toBe(1e-12);
    expect(config.useMeanPooling).toBe(true);
    expect(config.poolScales).toEqual([1, 2, 3, 6]);
    expect(config.outFeatures).toEqual(['stage12']);
    expect(config.outIndices).toEqual([12]);
    expect(config.id2label).toEqual({ '0': 'LABEL_0', '1': 'LABEL_1' });
    expect(config.problemType).toBeNull();
  });

  it('reads config.json and keeps what it does not know', async () => {
    const config = await BeitConfig.fromPretrained(sampleCase);
    expect(config.hiddenSize).toBe(32);
    expect(config.useRelativePositionBias).toBe(true);
    expect(config.numLabels).toBe(7);
    expect(config.toJSON().transformers_version).toBe('5.18.0');
    expect(config.toJSON().hidden_size).toBe(32);
  });

  it('round-trips through toJSON', async () => {
    const config = await BeitConfig.fromPretrained(sampleCase);
    expect(BeitConfig.fromJSON(JSON.stringify(config.toJSON()))).toEqual(config);
  });

  it('takes camelCase fields and derives the rest', () => {
    const config = new BeitConfig({ numHiddenLayers: 4, outIndices: [2, 4], id2label: { '0': 'cat' } });
    expect(config.outFeatures).toEqual(['stage2', 'stage4']);
    expect(config.stageNames).toHaveLength(5);
    expect(config.label2id).toEqual({ cat: 0 });
  });

  it('names the field of a bad value', () => {
    const attempt = (init: Record<string, unknown>) => {
      try {
        new BeitConfig(init);
      } catch (err) {
        expect(err).toBeInstanceOf(BeitError);
        expect((err as BeitError).code).toBe('E_CONFIG');
        return (err as BeitError).message;
      }
      throw new Error(`accepted ${JSON.stringify(init)}`);
    };
    expect(attempt({ hiddenSize: 30, numAttentionHeads: 4 })).toMatch(/hidden_size \(30\) is not divisible/);
    expect(attempt({ patchSize: 0 })).toMatch(/patch_size/);
    expect(attempt({ hiddenSize: 'big' })).toMatch(/hidden_size/);
    expect(attempt({ outIndices: [40] })).toMatch(/out_indices/);
  });

  it('rejects a checkpoint of another model type', async () => {
    const dir = checkpointDir((c) => {
      c.model_type = 'vit';
    });
    await expect(BeitConfig.fromPretrained(dir)).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringMatching(/model_type is "vit"/),
    });
  });

  it('says what is missing in a directory without config.json, or a path that is none', async () => {
    await expect(BeitConfig.fromPretrained(mkdtempSync(join(tmpdir(), 'beit-empty-')))).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringMatching(/no config.json in/),
    });
    await expect(BeitConfig.fromPretrained('/definitely/not/here')).rejects.toMatchObject({
      code: 'E_NOT_FOUND',
      message: expect.stringMatching(/\/definitely\/not\/here is not a directory/),
    });
  });
});
