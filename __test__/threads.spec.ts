// The CPU threads: `threads` gives a model a pool of its own (its forwards run on exactly that many
// threads, named beit-compute-N, with the numbers of the shared pool), and BEIT_NUM_THREADS sizes the
// shared pool (read once: each case runs in a fresh process).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BeitForImageClassification, bundledModelDir, cpuInfo } from '../ts/index.js';

const root = new URL('..', import.meta.url);
const digits = join(new URL('../samples/digits', import.meta.url).pathname);
const images = readdirSync(digits).map((f) => join(digits, f));

/** The names of this process's threads that belong to a model's own pool. */
function computeThreads(): string[] {
  return readdirSync('/proc/self/task')
    .map((task) => readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim())
    .filter((name) => name.startsWith('beit-compute-'));
}

/** `script` (ESM, with the built package as `m`) in a fresh Node process with `env` added. */
function runWith(env: Record<string, string>, script: string) {
  return spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `const m = await import('./dist/index.js');\n${script}`],
    {
      cwd: root,
      env: { ...process.env, ...env },
      encoding: 'utf8',
    },
  );
}

describe('threads', () => {
  it.runIf(process.platform === 'linux')('runs a model on a pool of its own, with the same numbers', async () => {
    const before = computeThreads().length;
    using shared = await BeitForImageClassification.fromPretrained(bundledModelDir());
    using own = await BeitForImageClassification.fromPretrained(bundledModelDir(), { threads: 3 });
    expect(computeThreads().length - before).toBe(3);
    const [a, b] = [await shared.classify(images, { topK: 3 }), await own.classify(images, { topK: 3 })];
    expect(b).toEqual(a);
  });

  it('refuses a count that is not a whole number from 1 to 1024', async () => {
    for (const bad of [0, -1, 1.5, 1025, Number.NaN, '4']) {
      await expect(
        BeitForImageClassification.fromPretrained(bundledModelDir(), { threads: bad as number }),
        String(bad),
      ).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/^threads must be/) });
    }
  });

  it('sizes the shared pool from BEIT_NUM_THREADS, and reports it', () => {
    expect(Number.isInteger(cpuInfo().threads) && cpuInfo().threads >= 1).toBe(true);
    const load = `const model = await m.BeitForImageClassification.fromPretrained(m.bundledModelDir());
      const [[top]] = await model.classify(${JSON.stringify(images[0])}, { topK: 1 });
      console.log(JSON.stringify({ threads: m.cpuInfo().threads, label: top.label }));`;
    // BEIT_NUM_THREADS before rayon's own variable.
    const r = runWith({ BEIT_NUM_THREADS: '3', RAYON_NUM_THREADS: '1' }, load);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ threads: 3, label: '0' });
  });

  it('fails every call with a message naming BEIT_NUM_THREADS when it is not a count', () => {
    for (const bad of ['0', 'four', '1.5', '100000']) {
      const r = runWith(
        { BEIT_NUM_THREADS: bad },
        `for (const call of [() => m.cpuInfo(), () => m.BeitForImageClassification.fromPretrained(m.bundledModelDir())]) {
          try { await call(); console.log('no error'); } catch (e) { console.log(e.code, e.message); }
        }`,
      );
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines).toHaveLength(2);
      for (const line of lines) {
        expect(line, bad).toMatch(
          /^E_INVALID_ARGUMENT BEIT_NUM_THREADS=".*": expected a whole number of threads from 1 to 1024/,
        );
      }
    }
  });
});
