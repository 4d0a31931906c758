#!/usr/bin/env node
// Packs beit-node for publication the way the release does, into tarballs, without publishing:
//   node scripts/pack_release.mjs --artifacts DIR --out DIR [--only-built]
// DIR holds the built binaries (beit-node.<target>.node, at any depth, as the workflow downloads them).
// In a staging copy of the package it runs napi-rs's own steps: `napi artifacts` (which fails when a
// target's binary is missing: the release gate), `napi pre-publish --skip-optional-publish` (which
// writes the exact-version optionalDependencies), then `npm pack` for the main and each platform
// package. --only-built declares only the targets found in DIR (the local install test builds one);
// a release never passes it. A CUDA build in DIR (beit-node.<target>-cuda.node, from `npm run build:cuda`)
// is packed as its own package, npm/<target>-cuda, which users install beside beit-node: it is no optional
// dependency (it needs an NVIDIA driver) and napi-rs knows nothing of it, so napi's steps never see it.
// Prints the tarballs as JSON: { main, platforms: { target: file }, cuda: { target: file } }.
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
  execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    shell: process.platform === 'win32' && cmd === 'npm',
  });

/** The files `npm pack` would put in the main package, as npm itself lists them. */
function packedFiles() {
  const [report] = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], root));
  return report.files.map((f) => f.path);
}

/** The binaries in the artifacts folder: { platform-arch-abi name: path }, CPU builds and CUDA builds apart. */
function builtBinaries(dir) {
  const cpu = {};
  const cuda = {};
  for (const entry of readdirSync(dir, { recursive: true })) {
    const match = /(?:^|[\\/])beit-node\.([a-z0-9-]+?)(-cuda)?\.node$/.exec(String(entry));
    if (!match) continue;
    const into = match[2] ? cuda : cpu;
    if (into[match[1]])
      throw new Error(`two binaries for ${match[1]}${match[2] ?? ''} in ${dir}: ${into[match[1]]}, ${entry}`);
    into[match[1]] = join(dir, String(entry));
  }
  return { cpu, cuda };
}

const stage = mkdtempSync(join(tmpdir(), 'beit-node-release-'));
for (const file of packedFiles()) cpSync(join(root, file), join(stage, file), { recursive: true });
cpSync(join(root, 'npm'), join(stage, 'npm'), { recursive: true });

const built = builtBinaries(artifacts);
// napi artifacts refuses binaries of targets it does not know, so it gets the CPU builds alone.
const napiArtifacts = join(stage, '.napi-artifacts');
for (const [target, file] of Object.entries(built.cpu)) {
  cpSync(file, join(napiArtifacts, target, `beit-node.${target}.node`), { recursive: true });
}

const manifestPath = join(stage, 'package.json');
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
// The release scripts of the source tree (prepublishOnly, version) do not belong in a staged copy.
delete manifest.scripts;
if (values['only-built']) {
  manifest.napi.targets = manifest.napi.targets.filter((triple) => napiTargetName(triple) in built.cpu);
  if (manifest.napi.targets.length === 0) throw new Error(`no beit-node.<target>.node in ${artifacts}`);
}
writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

run(process.execPath, [napi, 'artifacts', '--output-dir', napiArtifacts, '--npm-dir', 'npm'], stage);
rmSync(napiArtifacts, { recursive: true, force: true });
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
const cuda = {};
for (const [target, file] of Object.entries(built.cuda)) cuda[target] = packCuda(target, file);
const main = tarball(stage);
rmSync(stage, { recursive: true, force: true });
console.log(JSON.stringify({ main, platforms, cuda }, null, 2));

/** The CUDA package of `target` with its binary, at the main package's version (the loader insists on it). */
function packCuda(target, file) {
  const dir = join(stage, 'npm', `${target}-cuda`);
  const cudaManifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (cudaManifest.version !== manifest.version) {
    throw new Error(
      `npm/${target}-cuda is version ${cudaManifest.version}, beit-node ${manifest.version}: make them equal`,
    );
  }
  cpSync(file, join(dir, cudaManifest.main));
  return tarball(dir);
}

/** napi-rs's platform-arch-abi name of a Rust target triple (`linux-x64-gnu`), as napi-rs derives it. */
function napiTargetName(triple) {
  return parseTriple(triple).platformArchABI;
}
