// beit-node under Bun and Deno: fixtures/runtime_smoke.mjs, a user's script that imports 'beit-node', runs in
// a child process of each runtime (the versions pinned in devDependencies, from node_modules/.bin) and must
// see what Node sees: the README's quick start to 1e-6, pipeline(), a BeitError's code, dispose().
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { BeitForImageClassification, bundledModelDir, type ClassificationResult, pipeline } from '../ts/index.js';
import { type ChildOutput, childOutput } from './helpers/child_output.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const script = join(root, '__test__/fixtures/runtime_smoke.mjs');
const devDependencies: Record<string, string> = JSON.parse(
  readFileSync(join(root, 'package.json'), 'utf8'),
).devDependencies;

/** A child gets this long; the test a little longer, to report the child's output when it times out. */
const CHILD_TIMEOUT_MS = 110_000;
const TEST_TIMEOUT_MS = 120_000;

interface Caught {
  instanceOfBeitError: boolean;
  name: string;
  code: string;
  message: string;
}

/** The JSON line runtime_smoke.mjs prints. */
interface Smoke {
  runtime: { name: string; version: string };
  resolved: string;
  best: ClassificationResult;
  pipeline: ClassificationResult;
  missingImage: Caught | null;
  disposed: boolean;
  afterDispose: Caught | null;
}

/**
 * The runtime's executable as `npm ci` installs it. On Windows npm's node_modules/.bin entries are .cmd
 * shims, which need a shell; the packages' own executables are what they run.
 */
function runtimeBinary(name: 'bun' | 'deno'): string {
  if (process.platform === 'win32') {
    return join(root, 'node_modules', name === 'bun' ? 'bun/bin/bun.exe' : 'deno/deno.exe');
  }
  return join(root, 'node_modules/.bin', name);
}

function requireBinary(name: 'bun' | 'deno'): string {
  const file = runtimeBinary(name);
  if (!existsSync(file)) {
    throw new Error(
      `${name} is not installed (${file} is missing): run \`npm ci\`, which installs ${name}@${devDependencies[name]} from devDependencies.`,
    );
  }
  return file;
}

/**
 * Children get no route to the internet (HF_ENDPOINT as in vitest.config.ts; DO_NOT_TRACK turns off Bun's
 * crash reports), and plain text on stderr for the failure messages.
 */
const childEnv = { HF_ENDPOINT: 'http://127.0.0.1:9', DO_NOT_TRACK: '1', NO_COLOR: '1' };

function runChild(command: string, args: string[], env: Record<string, string> = {}): Promise<ChildOutput> {
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, ...childEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: CHILD_TIMEOUT_MS,
  });
  return childOutput(child);
}

/** The script's JSON line; a failure says how the child ended and shows all it wrote. */
function parseSmoke(what: string, r: ChildOutput): Smoke {
  const report = `${what} exited with code ${r.code}${r.signal ? ` (signal ${r.signal}${r.signal === 'SIGTERM' ? `, likely the ${CHILD_TIMEOUT_MS / 1000} s timeout` : ''})` : ''}\n--- stderr ---\n${r.err}\n--- stdout ---\n${r.out}`;
  const line = r.out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (r.code !== 0 || !line) throw new Error(report);
  try {
    return JSON.parse(line) as Smoke;
  } catch (err) {
    throw new Error(`${report}\n(the last line is not JSON: ${err})`);
  }
}

/** What Node, in this process, answers to the script's calls. */
let node: { best: ClassificationResult; pipeline: ClassificationResult };

beforeAll(async () => {
  // The script imports 'beit-node', the built package, not ts/.
  if (!existsSync(join(root, 'dist/index.js'))) {
    throw new Error("dist/index.js is missing: run `npm run build:ts` (the script imports 'beit-node', i.e. dist/).");
  }
  const digits = await BeitForImageClassification.fromPretrained(bundledModelDir('beit-digits'));
  const [[best] = []] = await digits.classify(join(root, 'samples/digits/digit-7.png'), { topK: 1 });
  await digits.dispose();
  const classifier = await pipeline('image-classification', bundledModelDir('beit-digits'));
  const [piped] = await classifier(join(root, 'samples/digits/digit-3.png'), { topK: 1 });
  await classifier.dispose();
  if (!best || !piped) throw new Error('Node gave no classes for the sample digits');
  node = { best, pipeline: piped };
}, TEST_TIMEOUT_MS);

function expectSameAsNode(smoke: Smoke, runtime: string): void {
  expect(smoke.runtime).toEqual({
    name: runtime,
    version: runtime === 'node' ? process.versions.node : devDependencies[runtime],
  });
  // 'beit-node' is this checkout's package entry, reached through package.json "exports".
  expect(smoke.resolved).toBe(pathToFileURL(join(root, 'dist/index.js')).href);

  // 1. The README's quick start: '7' at about 0.965, the same number as Node's.
  expect(node.best.label).toBe('7');
  expect(node.best.score).toBeCloseTo(0.965, 2);
  expect(smoke.best.label).toBe(node.best.label);
  expect(Math.abs(smoke.best.score - node.best.score)).toBeLessThanOrEqual(1e-6);

  // 2. pipeline() names the digit as Node does.
  expect(node.pipeline.label).toBe('3');
  expect(smoke.pipeline.label).toBe(node.pipeline.label);
  expect(Math.abs(smoke.pipeline.score - node.pipeline.score)).toBeLessThanOrEqual(1e-6);

  // 3. A missing image is a BeitError with its code.
  expect(smoke.missingImage).toMatchObject({ instanceOfBeitError: true, name: 'BeitError', code: 'E_IMAGE' });

  // 4. dispose(): the model says so, and a later call rejects with E_INVALID_ARGUMENT.
  expect(smoke.disposed).toBe(true);
  expect(smoke.afterDispose).toMatchObject({
    instanceOfBeitError: true,
    name: 'BeitError',
    code: 'E_INVALID_ARGUMENT',
  });
}

describe('the same script under other runtimes', () => {
  it(
    'runs under Node as written (the baseline the other runtimes are held to)',
    async () => {
      const smoke = parseSmoke('node', await runChild(process.execPath, [script]));
      expectSameAsNode(smoke, 'node');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    `runs under Bun ${devDependencies.bun}`,
    async () => {
      const bun = requireBinary('bun');
      // --no-install: never auto-install (or fetch) packages, whatever the node_modules it finds.
      const smoke = parseSmoke('bun', await runChild(bun, ['--no-install', script]));
      expectSameAsNode(smoke, 'bun');
    },
    TEST_TIMEOUT_MS,
  );

  // Deno publishes no build for musl (Alpine): there the workflow installs without its postinstall and
  // this case does not run; everywhere else it must pass.
  const musl =
    process.platform === 'linux' &&
    !(process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
  it.skipIf(musl)(
    `runs under Deno ${devDependencies.deno}`,
    async () => {
      const deno = requireBinary('deno');
      // A cache of its own, so the run neither reads nor writes the user's ~/.cache/deno.
      const denoDir = mkdtempSync(join(tmpdir(), 'beit-deno-'));
      try {
        const args = [
          'run',
          // read (model, images), env (BEIT_NODE_*, HF_*), ffi (the napi addon), sys (CPU features): all of them.
          '-A',
          // node_modules as npm left it: resolve from it, never install into it.
          '--node-modules-dir=manual',
          // nothing downloaded: no remote modules, only what is already cached.
          '--no-remote',
          '--cached-only',
          // no deno.lock written into the checkout.
          '--no-lock',
          script,
        ];
        const smoke = parseSmoke(
          'deno',
          await runChild(deno, args, { DENO_DIR: denoDir, DENO_NO_UPDATE_CHECK: '1', DENO_NO_PROMPT: '1' }),
        );
        expectSameAsNode(smoke, 'deno');
      } finally {
        rmSync(denoDir, { recursive: true, force: true });
      }
    },
    TEST_TIMEOUT_MS,
  );
});
