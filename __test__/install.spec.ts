// `npm install beit-node` as a user does it, from the tarballs a release would publish: the main
// package and this platform's binary package, packed by scripts/pack_release.mjs (napi-rs's
// artifacts + pre-publish, then npm pack), installed into an empty project that cannot see this
// source tree. npm's registry is pointed at a closed local port, so nothing comes from outside.
// Then the bundled digits are classified through require (CommonJS), import (ESM) and npx, the
// .d.ts files are checked by a strict tsc, and a missing binary gives an error that says what to do.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentHost, describeHost, targetName, withGlibcVersion } from '../ts/native_target.js';
import { digitsReference, softmax } from './helpers/digits.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const host = withGlibcVersion(currentHost());
const target = targetName(host);
/** The binary to pack: the build in native/, or another one (the release build, in CI). */
const artifacts = process.env.BEIT_INSTALL_TEST_ARTIFACTS ?? join(root, 'native');
const closedRegistry = 'http://127.0.0.1:9';
/** npm, npx and the .bin shims are .cmd files on Windows, which only a shell runs. */
const shell = process.platform === 'win32';

const reference = digitsReference;

let project = '';
let tarballDir = '';
let tarballs: { main: string; platforms: Record<string, string> } = { main: '', platforms: {} };

/** Runs node in the test project, with npm's registry closed and no path back to this tree. */
function node(args: string[], extraEnv: Record<string, string> = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.BEIT_NODE_BINARY;
  delete env.NODE_PATH;
  Object.assign(env, { npm_config_registry: closedRegistry, HF_HUB_OFFLINE: '1' }, extraEnv);
  return spawnSync(process.execPath, args, { cwd: project, encoding: 'utf8', env });
}

function npm(args: string[]) {
  // No retries: each of the other platforms' optional packages would otherwise be asked for three times
  // over 10-60 s backoffs (about 3.5 minutes of waiting on the closed registry).
  const offline = ['--registry', closedRegistry, '--fetch-retries', '0', '--no-audit', '--no-fund'];
  return execFileSync('npm', [...args, ...offline], {
    cwd: project,
    encoding: 'utf8',
    shell,
  });
}

/** The script each module system runs: classify the bundled samples, print labels and scores. */
const classifyBody = `
const model = await BeitForImageClassification.fromPretrained(bundledModelDir('beit-digits'));
const root = dirname(require.resolve('beit-node/package.json'));
const files = ${JSON.stringify(reference.samples.map((s) => s.file))}.map((f) => join(root, f));
const results = await model.classify(files, { topK: 10 });
console.log(JSON.stringify(results));
await model.dispose();`;

function expectReferenceResults(stdout: string) {
  const results = JSON.parse(stdout) as { label: string; score: number }[][];
  expect(results).toHaveLength(reference.samples.length);
  reference.samples.forEach((sample, i) => {
    const scores = softmax(sample.logits);
    const got = results[i] ?? [];
    expect(got[0]?.label).toBe(sample.predicted);
    for (const { label, score } of got) expect(score).toBeCloseTo(scores[Number(label)] ?? Number.NaN, 4);
  });
}

describe(`npm install beit-node on ${describeHost(host)}`, () => {
  beforeAll(() => {
    const out = mkdtempSync(join(tmpdir(), 'beit-node-tarballs-'));
    tarballDir = out;
    const packed = execFileSync(
      process.execPath,
      [join(root, 'scripts/pack_release.mjs'), '--artifacts', artifacts, '--out', out, '--only-built'],
      // stderr piped: napi's progress stays out of the test's output, and a failure's message carries it.
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 },
    );
    tarballs = JSON.parse(packed);
    const platform = tarballs.platforms[target];
    if (!platform) throw new Error(`no ${target} binary in ${artifacts}: run npm run build first`);
    project = mkdtempSync(join(tmpdir(), 'beit-node-install-'));
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({
        name: 'beit-node-install-test',
        private: true,
        // The platform package comes from its tarball instead of the registry, as verdaccio would serve it.
        overrides: { [`beit-node-${target}`]: `file:${platform}` },
      }),
    );
    npm(['install', tarballs.main]);
  }, 300_000);

  afterAll(() => {
    for (const dir of [project, tarballDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('declares exact-version optional dependencies on the platform packages, written by napi pre-publish', () => {
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules/beit-node/package.json'), 'utf8'));
    expect(manifest.optionalDependencies).toEqual({ [`beit-node-${target}`]: manifest.version });
    const platform = JSON.parse(readFileSync(join(project, `node_modules/beit-node-${target}/package.json`), 'utf8'));
    expect(platform).toMatchObject({ version: manifest.version, os: [host.platform], cpu: [host.arch] });
  });

  it('ships only what users need: no sources, no binaries in the main package', () => {
    const listing = execFileSync('tar', ['-tzf', tarballs.main], { encoding: 'utf8' }).split('\n');
    expect(listing.some((f) => /\.node$|\/ts\/|\/crates\/|__test__|\.map$/.test(f))).toBe(false);
    expect(listing).toContain('package/dist/index.js');
    expect(listing).toContain('package/native/index.d.cts');
    expect(listing).toContain('package/models/beit-digits/model.safetensors');
  });

  it('passes publint --strict and arethetypeswrong on the packed tarball', () => {
    const bin = (name: string) => join(root, 'node_modules/.bin', name);
    const publint = spawnSync(bin('publint'), ['run', '--strict', tarballs.main], { encoding: 'utf8', shell });
    expect(publint.status, publint.stdout + publint.stderr).toBe(0);
    expect(publint.stdout).toContain('All good!');
    // One ESM build that CommonJS loads through require(esm): Node >= 20.19 / 22.12 (the engines
    // range) and TypeScript >= 5.8 under module nodenext (the .cts check below) accept it; attw
    // still reports every require of ESM, so that one rule is off and every other one applies.
    const attw = spawnSync(bin('attw'), [tarballs.main, '--ignore-rules', 'cjs-resolves-to-esm', '--format', 'ascii'], {
      encoding: 'utf8',
      shell,
    });
    expect(attw.status, attw.stdout + attw.stderr).toBe(0);
    expect(attw.stdout).toContain('No problems found');
  });

  it('classifies the bundled digits through require (CommonJS)', () => {
    writeFileSync(
      join(project, 'classify.cjs'),
      `const { dirname, join } = require('node:path');
const { BeitForImageClassification, bundledModelDir } = require('beit-node');
(async () => {${classifyBody}
})();`,
    );
    const r = node(['classify.cjs']);
    expect(r.stderr).toBe('');
    expectReferenceResults(r.stdout);
  });

  it('classifies the bundled digits through import (ESM)', () => {
    writeFileSync(
      join(project, 'classify.mjs'),
      `import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BeitForImageClassification, bundledModelDir } from 'beit-node';
const require = createRequire(import.meta.url);
${classifyBody}`,
    );
    const r = node(['classify.mjs']);
    expect(r.stderr).toBe('');
    expectReferenceResults(r.stdout);
  });

  it('classifies the bundled digits through npx beit classify', () => {
    const pkg = join(project, 'node_modules/beit-node');
    const files = reference.samples.map((s) => join(pkg, s.file));
    const r = spawnSync(
      'npx',
      [
        '--no-install',
        'beit',
        'classify',
        ...files,
        '--model',
        join(pkg, 'models/beit-digits'),
        '--top-k',
        '1',
        '--json',
      ],
      {
        cwd: project,
        encoding: 'utf8',
        env: { ...process.env, npm_config_registry: closedRegistry, HF_HUB_OFFLINE: '1' },
        shell,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout) as { predictions: { label: string }[] }[];
    const labels = results.map((x) => x.predictions[0]?.label);
    expect(labels).toEqual(reference.samples.map((s) => s.predicted));
  });

  it('type-checks a TypeScript user of the API with strict tsc, as ESM and as CommonJS', () => {
    const use = `import { BeitError, BeitForImageClassification, Tensor, bundledModelDir } from 'beit-node';
export async function top(file: string): Promise<string> {
  const model = await BeitForImageClassification.fromPretrained(bundledModelDir('beit-digits'), { dtype: 'q8' });
  const [[best]] = await model.classify(file, { topK: 1 });
  const out = await model.forward({ pixelValues: new Tensor(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]) });
  const dims: readonly number[] = out.logits.dims;
  await model.dispose();
  if (!best) throw new BeitError('E_INTERNAL', 'no label');
  return \`\${best.label} \${best.score.toFixed(3)} \${dims.join('x')}\`;
}
`;
    writeFileSync(join(project, 'use.mts'), use);
    writeFileSync(join(project, 'use.cts'), use);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          lib: ['es2022', 'esnext.disposable'],
          skipLibCheck: false,
          // Node's own types, from this checkout's dev dependencies (a user has @types/node).
          typeRoots: [join(root, 'node_modules/@types')],
          types: ['node'],
        },
        files: ['use.mts', 'use.cts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', project], {
      encoding: 'utf8',
    });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });

  it('says which platform, C library and package is missing, and what to do, when the binary is not installed', () => {
    const moved = join(project, `node_modules/beit-node-${target}`);
    const keep = `${moved}.away`;
    renameSync(moved, keep);
    try {
      const r = node([
        '-e',
        "try { require('beit-node') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }",
      ]);
      const { code, message } = JSON.parse(r.stdout) as { code: string; message: string };
      expect(code).toBe('E_NATIVE_BINDING');
      expect(message).toContain(`beit-node-${target} is not installed`);
      expect(message).toContain(describeHost(host));
      expect(message).toMatch(/run npm install/);
      expect(message).not.toMatch(/npm has a bug/i);
      const beit = join(project, 'node_modules/.bin/beit');
      const cli = spawnSync(beit, ['classify', 'x.png'], { encoding: 'utf8', shell });
      expect(cli.status).toBe(1);
      expect(cli.stderr).toMatch(/^beit: beit-node found no native binary .* \[E_NATIVE_BINDING\]\n$/);
      const help = spawnSync(beit, ['--help'], { encoding: 'utf8', shell });
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/^Usage: beit <command>/);
    } finally {
      renameSync(keep, moved);
    }
  });

  it('names the file and the loader error when the installed binary does not load', () => {
    const bogus = join(mkdtempSync(join(tmpdir(), 'beit-node-bogus-')), `beit-node.${target}.node`);
    writeFileSync(bogus, 'not a shared object');
    const r = node(
      [
        '-e',
        "try { require('beit-node') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }",
      ],
      {
        BEIT_NODE_BINARY: bogus,
      },
    );
    const { code, message } = JSON.parse(r.stdout) as { code: string; message: string };
    expect(code).toBe('E_NATIVE_BINDING');
    expect(message).toContain(bogus);
    expect(message).toContain(describeHost(host));
    expect(message).toMatch(/another platform or CPU, or damaged/);
    rmSync(bogus);
  });
});
