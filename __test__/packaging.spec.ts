// The per-platform packages in npm/ are what napi-rs writes from package.json (names, version,
// os/cpu/libc, license, repository), so none drifts from the main package by hand.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { PUBLISHED_TARGETS } from '../ts/native_target.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

it('npm/ holds one package per published target, as napi create-npm-dirs writes it', () => {
  const fresh = mkdtempSync(join(tmpdir(), 'beit-npm-dirs-'));
  cpSync(join(root, 'package.json'), join(fresh, 'package.json'));
  execFileSync(process.execPath, [join(root, 'node_modules/@napi-rs/cli/dist/cli.js'), 'create-npm-dirs'], {
    cwd: fresh,
    stdio: 'ignore',
  });
  expect(readdirSync(join(root, 'npm')).sort()).toEqual([...PUBLISHED_TARGETS].sort());
  for (const target of PUBLISHED_TARGETS) {
    const committed = read(join(root, 'npm', target, 'package.json'));
    expect(committed, target).toEqual(read(join(fresh, 'npm', target, 'package.json')));
    expect(committed.version).toBe(read(join(root, 'package.json')).version);
  }
});
