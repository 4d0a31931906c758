// cpuInfo(): the level the addon detects follows the CPU's own flags, and BEIT_CPU lowers the level
// in use (read once, at start-up: each case runs in a fresh process).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cpuInfo } from '../ts/index.js';

const root = new URL('..', import.meta.url);

/** The CPU's flags as /proc/cpuinfo lists them (`flags` on x86, `Features` on arm64). */
function cpuFlags(): Set<string> {
  const line = /^(?:flags|Features)\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  return new Set(line.trim().split(/\s+/));
}

/** The level /proc/cpuinfo's flags allow, by the rule of crates/beit/src/cpu/level.rs. */
function levelFromFlags(): string {
  const flags = cpuFlags();
  const has = (...names: string[]) => names.every((n) => flags.has(n));
  // arm64: the dot product (asimddp), I8MM and BF16 extensions make `mmla`; NEON is in every core.
  if (process.arch === 'arm64') return has('asimddp', 'i8mm', 'bf16') ? 'mmla' : 'neon';
  const avx512 = has('avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx512_vnni', 'avx2', 'fma');
  // Linux grants AMX to every process that asks (kernel 5.16 and later, as the flags imply here).
  if (avx512 && has('amx_tile', 'amx_int8', 'amx_bf16')) return 'amx';
  if (avx512) return 'avx512';
  if (has('avx2', 'fma', 'avx_vnni')) return 'avxvnni';
  if (has('avx2', 'fma')) return 'avx2';
  return 'scalar';
}

/** cpuInfo() in a fresh Node process with `BEIT_CPU` set to `cap`. */
function cpuInfoWith(cap: string): { detected: string; active: string } {
  const script = "import('./dist/index.js').then((m) => console.log(JSON.stringify(m.cpuInfo())))";
  const out = execFileSync(process.execPath, ['-e', script], {
    cwd: root,
    env: { ...process.env, BEIT_CPU: cap },
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

describe('cpuInfo', () => {
  it.runIf(process.platform === 'linux')('detects the level the CPU flags allow', () => {
    expect(cpuInfo().detected).toBe(levelFromFlags());
  });

  it('is lowered by BEIT_CPU, never raised, and an unknown name keeps the detected level', () => {
    const { detected } = cpuInfo();
    expect(cpuInfoWith('scalar')).toMatchObject({ detected, active: 'scalar' });
    expect(cpuInfoWith('amx').active).toBe(detected);
    expect(cpuInfoWith('avx1024').active).toBe(detected);
    // The highest level this CPU has that is not above avx2: neon or mmla on arm64, avx2 on x64 with it.
    const order = ['scalar', 'neon', 'mmla', 'avx2', 'avxvnni', 'avx512', 'amx'];
    const atMostAvx2 = order.indexOf(detected) <= order.indexOf('avx2') ? detected : 'avx2';
    expect(cpuInfoWith('avx2').active).toBe(atMostAvx2);
    // avxvnni where the CPU has AVX-VNNI (whatever else it has), else the level below it.
    if (process.arch === 'x64' && process.platform === 'linux') {
      const vnni = cpuFlags().has('avx_vnni');
      expect(cpuInfoWith('avxvnni').active).toBe(vnni ? 'avxvnni' : atMostAvx2);
    }
  });
});
