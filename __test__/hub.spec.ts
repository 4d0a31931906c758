// Repo ids load from the cache layout that Python's huggingface_hub writes, shared with it, and
// download into it from a hub (here a local one on 127.0.0.1).
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BeitConfig, BeitForImageClassification, type DownloadProgress, resolveModelDir } from '../ts/index.js';
import { sampleCase } from './helpers/checkpoints.js';
import { COMMIT, type MockHub, startMockHub } from './helpers/mockHub.js';

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

  it('resolves a repo id to its snapshot, by branch or commit', async () => {
    const cacheDir = hubCache();
    const snapshot = join(cacheDir, 'models--microsoft--tiny-beit', 'snapshots', commit);
    expect(await resolveModelDir('microsoft/tiny-beit', { cacheDir })).toBe(snapshot);
    expect(await resolveModelDir('microsoft/tiny-beit', { cacheDir, revision: commit })).toBe(snapshot);
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

  it('says how to get a model that is not cached, offline', async () => {
    const offline = { cacheDir: hubCache(), localFilesOnly: true };
    await expect(BeitForImageClassification.fromPretrained('microsoft/not-downloaded', offline)).rejects.toMatchObject({
      code: 'E_NOT_FOUND',
      message: expect.stringMatching(/offline mode.*huggingface-cli download/),
    });
    await expect(
      BeitForImageClassification.fromPretrained('microsoft/tiny-beit', { ...offline, revision: 'v9' }),
    ).rejects.toMatchObject({ code: 'E_NOT_FOUND', message: expect.stringMatching(/revision v9/) });
  });
});

describe('downloads from the hub', () => {
  let hub: MockHub;
  const withProcessor = mkdtempSync(join(tmpdir(), 'beit-hub-files-'));
  writeFileSync(join(withProcessor, 'preprocessor_config.json'), JSON.stringify({ size: 32 }));
  beforeAll(async () => {
    hub = await startMockHub({
      'org/tiny': {
        'config.json': sampleCase,
        'model.safetensors': sampleCase,
        'preprocessor_config.json': withProcessor,
      },
    });
  });
  afterAll(() => hub.close());
  afterEach(() => {
    delete process.env.HF_ENDPOINT;
    delete process.env.HF_HUB_OFFLINE;
  });

  it('fetches a model with its processor, reporting progress, then reuses the cache', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'beit-dl-'));
    const events: DownloadProgress[] = [];
    const model = await BeitForImageClassification.fromPretrained('org/tiny', {
      cacheDir,
      endpoint: hub.url,
      onProgress: (p) => events.push(p),
    });
    expect(model.config.numLabels).toBe(7);
    expect(model.processor?.config.size).toBe(32);
    const size = statSync(join(sampleCase, 'model.safetensors')).size;
    expect(events.filter((e) => e.file === 'model.safetensors').at(-1)).toEqual({
      file: 'model.safetensors',
      downloaded: size,
      total: size,
    });
    const snapshot = join(cacheDir, 'models--org--tiny', 'snapshots', COMMIT);
    expect(readFileSync(join(snapshot, 'model.safetensors'))).toEqual(
      readFileSync(join(sampleCase, 'model.safetensors')),
    );

    const asked = hub.requests.length;
    process.env.HF_ENDPOINT = hub.url;
    expect(await resolveModelDir('org/tiny', { cacheDir })).toBe(snapshot);
    process.env.HF_HUB_OFFLINE = '1';
    expect((await BeitConfig.fromPretrained('org/tiny', { cacheDir })).numLabels).toBe(7);
    expect(hub.requests.length).toBe(asked);
  });

  it('fails with the reason and the remedy', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'beit-dl-'));
    const endpoint = hub.url;
    await expect(resolveModelDir('org/missing', { cacheDir, endpoint })).rejects.toMatchObject({
      code: 'E_NOT_FOUND',
      message: expect.stringMatching(/repository org\/missing was not found .*HF_TOKEN/),
    });
    await expect(resolveModelDir('org/tiny', { cacheDir, endpoint, revision: 'v2' })).rejects.toMatchObject({
      code: 'E_NOT_FOUND',
      message: expect.stringMatching(/has no revision v2/),
    });
    await expect(resolveModelDir('org/tiny', { cacheDir, endpoint: 'http://127.0.0.1:9' })).rejects.toMatchObject({
      code: 'E_NETWORK',
      message: expect.stringMatching(/could not reach .*HF_HUB_OFFLINE=1/),
    });
    const thrown = new Error('progress display broke');
    await expect(
      resolveModelDir('org/tiny', {
        cacheDir,
        endpoint,
        onProgress: () => {
          throw thrown;
        },
      }),
    ).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', cause: thrown });
    await expect(resolveModelDir('org/tiny', { cacheDir, endpoint, stallTimeoutMs: 0 })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringMatching(/stallTimeoutMs/),
    });
  });

  it('stops on an AbortSignal, and the next call completes the download', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'beit-dl-'));
    const endpoint = hub.url;
    const asked = hub.requests.length;
    const reason = new Error('the user went away');
    await expect(resolveModelDir('org/tiny', { cacheDir, endpoint, signal: AbortSignal.abort(reason) })).rejects.toBe(
      reason,
    );
    expect(hub.requests.length).toBe(asked);

    const controller = new AbortController();
    const pending = BeitForImageClassification.fromPretrained('org/tiny', {
      cacheDir,
      endpoint,
      signal: controller.signal,
    });
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);

    const model = await BeitForImageClassification.fromPretrained('org/tiny', { cacheDir, endpoint });
    expect(model.config.numLabels).toBe(7);
  });
});
