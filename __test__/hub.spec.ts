// Repo ids load from the cache layout that Python's huggingface_hub writes, shared with it.
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BeitConfig, BeitForImageClassification, resolveModelDir } from '../ts/index.js';
import { sampleCase } from './helpers/checkpoints.js';

const commit = 'a'.repeat(40);

/** `<root>/models--microsoft--tiny-beit` with `main` at `commit`, holding the sample checkpoint. */
function hubCache(): string {
  const root = mkdtempSync(join(tmpdir(), 'beit-hub-'));
  const repo = join(root, 'models--microsoft--tiny-beit');
  const snapshot = join(repo, 'snapshots', commit);
  mkdirSync(join(repo, 'refs'), { recursive: true });
  mkdirSync(snapshot, { recursive: true });
  writeFileSync(join(repo, 'refs', 'main'), commit);
  for (const file of ['config.json', 'model.safetensors']) copyFileSync(join(sampleCase, file), join(snapshot, file));
  return root;
}

describe('the HuggingFace cache', () => {
  const saved = process.env.HF_HOME;
  afterEach(() => {
    if (saved === undefined) delete process.env.HF_HOME;
    else process.env.HF_HOME = saved;
  });

  it('resolves a repo id to its snapshot, by branch or commit', () => {
    const cacheDir = hubCache();
    const snapshot = join(cacheDir, 'models--microsoft--tiny-beit', 'snapshots', commit);
    expect(resolveModelDir('microsoft/tiny-beit', { cacheDir })).toBe(snapshot);
    expect(resolveModelDir('microsoft/tiny-beit', { cacheDir, revision: commit })).toBe(snapshot);
  });

  it('loads a model and its config by repo id, from HF_HOME as Python does', async () => {
    const home = mkdtempSync(join(tmpdir(), 'beit-hf-home-'));
    const cache = hubCache();
    process.env.HF_HOME = home;
    const { renameSync } = await import('node:fs');
    renameSync(cache, join(home, 'hub'));
    const model = await BeitForImageClassification.fromPretrained('microsoft/tiny-beit');
    expect(model.config.numLabels).toBe(7);
    expect((await BeitConfig.fromPretrained('microsoft/tiny-beit')).hiddenSize).toBe(32);
  });

  it('says how to get a model that is not cached', async () => {
    await expect(
      BeitForImageClassification.fromPretrained('microsoft/not-downloaded', { cacheDir: hubCache() }),
    ).rejects.toMatchObject({ code: 'E_NOT_FOUND', message: expect.stringMatching(/huggingface-cli download/) });
    await expect(
      BeitForImageClassification.fromPretrained('microsoft/tiny-beit', { cacheDir: hubCache(), revision: 'v9' }),
    ).rejects.toMatchObject({ code: 'E_NOT_FOUND', message: expect.stringMatching(/revision v9/) });
  });
});
