// The per-platform packages in npm/ are what napi-rs writes from package.json (names, version,
// os/cpu/libc, license, repository), so none drifts from the main package by hand. The CUDA
// packages beside them are not napi-rs's: each is its CPU package's manifest with its own name,
// binary and description, and no optional dependency of the main package.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { CUDA_TARGETS, PUBLISHED_TARGETS } from '../ts/native_target.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

it('npm/ holds one package per published target, as napi create-npm-dirs writes it', () => {
  const fresh = mkdtempSync(join(tmpdir(), 'beit-npm-dirs-'));
  cpSync(join(root, 'package.json'), join(fresh, 'package.json'));
  execFileSync(process.execPath, [join(root, 'node_modules/@napi-rs/cli/dist/cli.js'), 'create-npm-dirs'], {
    cwd: fresh,
    stdio: 'ignore',
  });
  const cudaDirs = CUDA_TARGETS.map((target) => `${target}-cuda`);
  expect(readdirSync(join(root, 'npm')).sort()).toEqual([...PUBLISHED_TARGETS, ...cudaDirs].sort());
  for (const target of PUBLISHED_TARGETS) {
    const committed = read(join(root, 'npm', target, 'package.json'));
    expect(committed, target).toEqual(read(join(fresh, 'npm', target, 'package.json')));
    expect(committed.version).toBe(read(join(root, 'package.json')).version);
  }
});

it('each CUDA package is its CPU package with its own name and binary, installed by users, not by npm', () => {
  const main = read(join(root, 'package.json'));
  for (const target of CUDA_TARGETS) {
    const cpu = read(join(root, 'npm', target, 'package.json'));
    const cuda = read(join(root, 'npm', `${target}-cuda`, 'package.json'));
    const binary = `beit-node.${target}-cuda.node`;
    expect(cuda).toMatchObject({
      name: `beit-node-${target}-cuda`,
      version: main.version,
      main: binary,
      files: [binary],
    });
    const shared = ['version', 'cpu', 'os', 'libc', 'license', 'author', 'homepage', 'repository', 'bugs', 'engines'];
    for (const field of shared) expect(cuda[field], `${target}-cuda ${field}`).toEqual(cpu[field]);
    expect(cuda.description).toMatch(/NVIDIA driver >= 580 \(CUDA 13\.0\)/);
    expect(readFileSync(join(root, 'npm', `${target}-cuda`, 'README.md'), 'utf8')).toContain(
      `npm install beit-node beit-node-${target}-cuda`,
    );
    expect(Object.keys(main.optionalDependencies ?? {})).not.toContain(cuda.name);
    expect(main.napi.targets.join(' ')).not.toContain('cuda');
  }
});

it('pack_release packs a CUDA build found in the artifacts as its own package, and napi-rs never sees it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'beit-pack-cuda-'));
  try {
    // Stand-ins for the binaries: packing only copies them.
    mkdirSync(join(dir, 'artifacts/cpu'), { recursive: true });
    mkdirSync(join(dir, 'artifacts/cuda'), { recursive: true });
    writeFileSync(join(dir, 'artifacts/cpu/beit-node.linux-x64-gnu.node'), 'cpu');
    writeFileSync(join(dir, 'artifacts/cuda/beit-node.linux-x64-gnu-cuda.node'), 'cuda');
    const packed = JSON.parse(
      execFileSync(
        process.execPath,
        [
          join(root, 'scripts/pack_release.mjs'),
          '--artifacts',
          join(dir, 'artifacts'),
          '--out',
          join(dir, 'out'),
          '--only-built',
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    expect(Object.keys(packed.platforms)).toEqual(['linux-x64-gnu']);
    expect(Object.keys(packed.cuda)).toEqual(['linux-x64-gnu']);
    const listing = execFileSync('tar', ['-tzf', packed.cuda['linux-x64-gnu']], { encoding: 'utf8' }).split('\n');
    expect(listing.sort()).toEqual([
      '',
      'package/README.md',
      'package/beit-node.linux-x64-gnu-cuda.node',
      'package/package.json',
    ]);
    const manifest = JSON.parse(
      execFileSync('tar', ['-xOzf', packed.main, 'package/package.json'], { encoding: 'utf8' }),
    );
    expect(manifest.optionalDependencies).toEqual({ 'beit-node-linux-x64-gnu': manifest.version });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
