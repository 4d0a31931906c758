#!/usr/bin/env node
// Packs beit-node for publication the way the release does, into tarballs, without publishing:
//   node scripts/pack_release.mjs --artifacts DIR --out DIR [--only-built]
// DIR holds the built binaries (beit-node.<target>.node, at any depth, as the workflow downloads them).
// In a staging copy of the package it runs napi-rs's own steps: `napi artifacts` (which fails when a
// target's binary is missing: the release gate), `napi pre-publish --skip-optional-publish` (which
// writes the exact-version optionalDependencies), then `npm pack` for the main and each platform
// package. --only-built declares only the targets found in DIR (the local install test builds one);
// a release never passes it. Prints the tarballs as JSON: { main, platforms: { target: file } }.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseTriple } from '@napi-rs/cli';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const napi = join(root, 'node_modules/@napi-rs/cli/dist/cli.js');

const { values } = parseArgs({
  options: { artifacts: { type: 'string' }, out: { type: 'string' }, 'only-built': { type: 'boolean' } },
});
if (!values.artifacts || !values.out) {
  console.error('usage: node scripts/pack_release.mjs --artifacts DIR --out DIR [--only-built]');
  process.exit(2);
}
const artifacts = resolve(values.artifacts);
const out = resolve(values.out);
mkdirSync(out, { recursive: true });

// npm is npm.cmd on Windows, which only a shell runs.
const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], shell: process.platform === 'win32' && cmd === 'npm' });

/** The files `npm pack` would put in the main package, as npm itself lists them. */
function packedFiles() {
  const [report] = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], root));
  return report.files.map((f) => f.path);
}

/** The platform-arch-abi names of the binaries in the artifacts folder. */
function builtTargets(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { recursive: true })) {
    const match = /(?:^|\/)beit-node\.([a-z0-9-]+)\.node$/.exec(String(entry));
    if (match) found.push(match[1]);
  }
  return found;
}

const stage = mkdtempSync(join(tmpdir(), 'beit-node-release-'));
for (const file of packedFiles()) cpSync(join(root, file), join(stage, file), { recursive: true });
cpSync(join(root, 'npm'), join(stage, 'npm'), { recursive: true });

const manifestPath = join(stage, 'package.json');
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
// The release scripts of the source tree (prepublishOnly, version) do not belong in a staged copy.
delete manifest.scripts;
if (values['only-built']) {
  const built = new Set(builtTargets(artifacts));
  manifest.napi.targets = manifest.napi.targets.filter((triple) => built.has(napiTargetName(triple)));
  if (manifest.napi.targets.length === 0) throw new Error(`no beit-node.<target>.node in ${artifacts}`);
}
writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

run(process.execPath, [napi, 'artifacts', '--output-dir', artifacts, '--npm-dir', 'npm'], stage);
run(process.execPath, [napi, 'pre-publish', '-t', 'npm', '--no-gh-release', '--skip-optional-publish'], stage);

const tarball = (dir) => {
  const [report] = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out], dir));
  return join(out, report.filename);
};
const platforms = {};
for (const triple of manifest.napi.targets) {
  const target = napiTargetName(triple);
  platforms[target] = tarball(join(stage, 'npm', target));
}
const main = tarball(stage);
rmSync(stage, { recursive: true, force: true });
console.log(JSON.stringify({ main, platforms }, null, 2));

/** napi-rs's platform-arch-abi name of a Rust target triple (`linux-x64-gnu`), as napi-rs derives it. */
function napiTargetName(triple) {
  return parseTriple(triple).platformArchABI;
}
