// Installs bench/'s dependencies (the peers: transformers.js on onnxruntime-node) for
// __test__/peers.spec.ts, unless the installed transformers.js is already the locked one. Install
// scripts are skipped: onnxruntime-node's would fetch its CUDA provider, which the CPU peer never uses.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bench = fileURLToPath(new URL('../bench/', import.meta.url));
const installed = new URL('../bench/node_modules/@huggingface/transformers/package.json', import.meta.url);
const locked = JSON.parse(readFileSync(new URL('../bench/package-lock.json', import.meta.url), 'utf8')).packages[
  'node_modules/@huggingface/transformers'
].version;

if (existsSync(installed) && JSON.parse(readFileSync(installed, 'utf8')).version === locked) process.exit(0);
console.log(`installing bench/'s dependencies (transformers.js ${locked}) for the side-by-side tests`);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const r = spawnSync(npm, ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: bench, stdio: 'inherit' });
if (r.status !== 0) {
  console.error(`npm ci in bench/ failed (exit ${r.status}): the side-by-side tests need transformers.js from npm`);
  process.exit(1);
}
