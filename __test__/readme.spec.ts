// The README's usage examples run as written, on reference checkpoints instead of the hub's.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { sampleCase } from './helpers/checkpoints.js';
import { type ChildOutput, childOutput } from './helpers/child_output.js';
import { startImageServer } from './helpers/image_server.js';
import { referenceDir } from './helpers/reference.js';

/** The js blocks of one README section. */
function examples(section = '## Usage', end = '## Develop'): string[] {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const text = readme.slice(readme.indexOf(section), readme.indexOf(end));
  return [...text.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

/** The commands of the README's sh blocks in one section. */
function commands(section: string, end: string): string[] {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const text = readme.slice(readme.indexOf(section), readme.indexOf(end));
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => (m[1] ?? '').split('\n').filter(Boolean));
}

/** The sample checkpoint with a preprocessor sized for its 32x32 inputs. */
function checkpoint(): string {
  const dir = mkdtempSync(join(tmpdir(), 'beit-readme-'));
  for (const file of ['config.json', 'model.safetensors']) copyFileSync(join(sampleCase, file), join(dir, file));
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ size: 32, do_center_crop: false }));
  return dir;
}

/** The example as a script on this checkout's build, a reference checkpoint and a reference photo. */
function script(example: string): string {
  const entry = new URL('../dist/index.js', import.meta.url).href;
  const code = example
    .replace("'beit-node'", JSON.stringify(entry))
    .replace("'./beit-base-patch16-224'", JSON.stringify(checkpoint()))
    .replaceAll("'cat.jpg'", JSON.stringify(join(referenceDir, '../images/chelsea.png')));
  const file = join(mkdtempSync(join(tmpdir(), 'beit-readme-')), 'example.mjs');
  writeFileSync(file, code);
  return file;
}

function run(example: string): string {
  return execFileSync(process.execPath, [script(example)], { encoding: 'utf8' });
}

/** As `run`, without blocking this process (which may be serving the example a local server). */
function runAsync(example: string): Promise<ChildOutput> {
  return childOutput(spawn(process.execPath, [script(example)]));
}

it('the README has the usage examples this test runs', () => {
  expect(examples()).toHaveLength(5);
  expect(examples('## CUDA (NVIDIA GPUs)', '## Usage')).toHaveLength(1);
  expect(examples('## Quick start', '## Install')).toHaveLength(1);
});

it('the quick start classifies the bundled sample digits correctly, offline', () => {
  const [build, classify = ''] = commands('## Quick start', '## Install');
  expect(build).toBe('npm ci && npm run build');
  const args = classify.split(' ');
  expect(args.slice(0, 2)).toEqual(['node', 'dist/cli.js']);
  const root = fileURLToPath(new URL('..', import.meta.url));
  const images = readdirSync(join(root, 'samples/digits')).map((f) => join('samples/digits', f));
  const expanded = args.slice(1).flatMap((a) => (a === 'samples/digits/*.png' ? images : [a]));
  const out = execFileSync(process.execPath, expanded, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1' },
  });
  const predicted = [...out.matchAll(/digit-(\d)\.png\n {2}0\.\d+ {2}(\d)/g)];
  expect(predicted).toHaveLength(10);
  for (const [, digit, label] of predicted) expect(label).toBe(digit);
});

it('the quick start JavaScript example runs', () => {
  expect(run(examples('## Quick start', '## Install')[0] ?? '')).toMatch(/\{ label: '7', score: 0\.9\d+ \}/);
});

it('the README forward example runs', () => {
  expect(run(examples()[0] ?? '')).toMatch(/^LABEL_\d \[ 1, 7 \]$/m);
});

it('the README classify example runs', () => {
  expect(run(examples()[1] ?? '')).toMatch(/label: 'LABEL_\d', score: 0\.\d+/);
});

it('the README pipeline example runs', () => {
  expect(run(examples()[2] ?? '')).toMatch(
    /^\[\n? *\{ label: 'LABEL_\d', score: 0\.\d+ \},\n? *\{ label: 'LABEL_\d', score: 0\.\d+ \}\n?\]\n$/,
  );
});

it('the README images example runs: a URL, a sharp image and an upload refused network and files', async () => {
  const server = await startImageServer(readFileSync(join(referenceDir, '../images/chelsea.png')));
  try {
    const code = (examples()[3] ?? '')
      .replace("'https://example.com/cat.jpg'", JSON.stringify(`${server.origin}/image.png`))
      .replace("'sharp'", JSON.stringify(import.meta.resolve('sharp')));
    const { code: status, out, err } = await runAsync(code);
    expect(status, err).toBe(0);
    expect(out).toBe('true number\n');
    expect(server.hits.get('/image.png')).toBe(1);
  } finally {
    await server.close();
  }
});

it('the README limits example runs', () => {
  expect(run(examples()[4] ?? '')).toBe('{ maxTokens: 4097, maxAttentionBytes: 2147483648 }\n16385\n');
});

it('the README CUDA example runs, on the CPU where there is no CUDA build or GPU', () => {
  const out = run(examples('## CUDA (NVIDIA GPUs)', '## Usage')[0] ?? '');
  // Here (no GPU): the reason, then the label from the CPU; with a GPU, only the label.
  expect(out).toMatch(/^(on the CPU: .+\n)?(true|false) \d+ (cpu|cuda:0) LABEL_\d\n$/);
  if (out.startsWith('on the CPU')) expect(out).toContain('beit-node-linux-x64-gnu-cuda');
});
