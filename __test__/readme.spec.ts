// The README's usage example runs as written, on a reference checkpoint instead of the hub one.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sampleCase } from './helpers/checkpoints.js';

it('the README usage example runs', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const usage = readme.slice(readme.indexOf('## Usage'));
  const example = /```js\n([\s\S]*?)```/.exec(usage)?.[1];
  expect(example).toBeDefined();
  const entry = new URL('../dist/index.js', import.meta.url).href;
  const code = (example ?? '')
    .replace("'beit-node'", JSON.stringify(entry))
    .replace("'./beit-base-patch16-224'", JSON.stringify(sampleCase));
  const script = join(mkdtempSync(join(tmpdir(), 'beit-readme-')), 'example.mjs');
  writeFileSync(script, code);
  const out = execFileSync(process.execPath, [script], { encoding: 'utf8' });
  expect(out).toMatch(/^LABEL_\d \[ 1, 7 \]$/m);
});
