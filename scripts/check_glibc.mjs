#!/usr/bin/env node
// Fails when a Linux binary needs a newer glibc than the floor the README promises:
//   node scripts/check_glibc.mjs [--floor 2.17] FILE.node...
// The dynamic loader refuses a library whose version needs (the GLIBC_x.y entries readelf lists
// under .gnu.version_r) name a glibc newer than the system's, so the highest one is the floor.
// readelf reads ELF files of any architecture, so one check covers the x64 and arm64 builds.
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { floor: { type: 'string', default: '2.17' } },
  allowPositionals: true,
});
if (positionals.length === 0) {
  console.error('usage: node scripts/check_glibc.mjs [--floor 2.17] FILE.node...');
  process.exit(2);
}

const parse = (v) => v.split('.').map(Number);
const newer = (a, b) => {
  const [x, y] = [parse(a), parse(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  return false;
};

let failed = false;
for (const file of positionals) {
  const versions = execFileSync('readelf', ['--version-info', '--wide', file], { encoding: 'utf8' });
  const needed = [...versions.matchAll(/Name: GLIBC_([0-9.]+)/g)].map((m) => m[1]);
  if (needed.length === 0) {
    console.error(`${file}: no GLIBC_ version needs (not a glibc binary?)`);
    failed = true;
    continue;
  }
  const highest = needed.reduce((a, b) => (newer(b, a) ? b : a));
  const ok = !newer(highest, values.floor);
  console.log(`${file}: needs glibc ${highest} (floor ${values.floor}): ${ok ? 'ok' : 'TOO NEW'}`);
  if (!ok) failed = true;
}
process.exit(failed ? 1 : 0);
