// The README's usage examples run as written, on reference checkpoints instead of the hub's.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sampleCase } from './helpers/checkpoints.js';
import { referenceDir } from './helpers/reference.js';

function examples(): string[] {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const usage = readme.slice(readme.indexOf('## Usage'), readme.indexOf('## Develop'));
  return [...usage.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

/** The sample checkpoint with a preprocessor sized for its 32x32 inputs. */
function checkpoint(): string {
  const dir = mkdtempSync(join(tmpdir(), 'beit-readme-'));
  for (const file of ['config.json', 'model.safetensors']) copyFileSync(join(sampleCase, file), join(dir, file));
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ size: 32, do_center_crop: false }));
  return dir;
}

function run(example: string): string {
  const entry = new URL('../dist/index.js', import.meta.url).href;
  const code = example
    .replace("'beit-node'", JSON.stringify(entry))
    .replace("'./beit-base-patch16-224'", JSON.stringify(checkpoint()))
    .replace("'cat.jpg'", JSON.stringify(join(referenceDir, '../images/chelsea.png')));
  const script = join(mkdtempSync(join(tmpdir(), 'beit-readme-')), 'example.mjs');
  writeFileSync(script, code);
  return execFileSync(process.execPath, [script], { encoding: 'utf8' });
}

it('the README has the usage examples this test runs', () => {
  expect(examples()).toHaveLength(2);
});

it('the README forward example runs', () => {
  expect(run(examples()[0] ?? '')).toMatch(/^LABEL_\d \[ 1, 7 \]$/m);
});

it('the README classify example runs', () => {
  expect(run(examples()[1] ?? '')).toMatch(/label: 'LABEL_\d', score: 0\.\d+/);
});
