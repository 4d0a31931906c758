// beit-node's own CPU kernel levels side by side: the same model (bench/models/beit-base-random)
// at each level this CPU has (BEIT_CPU, read at start-up, so one worker process per level), fp32
// q8 and bfloat16, model only. The workers take turns, one timed call each per round; median images/s.
//   node bench/cpu_levels.mjs            # RUNS (default 5), BATCHES (default 1,8),
//                                        # DTYPES (default float32,q8,bfloat16)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cpuInfo } from '../dist/index.js';
import { cpuDescription } from './cpu.mjs';
import { median } from './median.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const modelDir = join(root, 'bench/models/beit-base-random');
const runs = Number(process.env.RUNS ?? 5);
const batches = (process.env.BATCHES ?? '1,8').split(',').map(Number);
const dtypes = (process.env.DTYPES ?? 'float32,q8,bfloat16').split(',');
// The vector levels of each architecture: the portable one runs the tests, and at a tenth of the
// speed or less it would take minutes per figure.
const LEVELS = process.arch === 'arm64' ? ['neon', 'mmla'] : ['avx2', 'avxvnni', 'avx512', 'amx'];

if (process.argv[2] === 'worker') {
  // One model per dtype; reads "dtype batch" lines, answers the seconds of one forward.
  const { BeitForImageClassification, Tensor } = await import('../dist/index.js');
  const models = {};
  for (const dtype of dtypes) models[dtype] = await BeitForImageClassification.fromPretrained(modelDir, { dtype });
  console.log(JSON.stringify(cpuInfo()));
  for await (const line of createInterface({ input: process.stdin })) {
    const [dtype, b] = line.split(' ');
    const n = Number(b);
    const pixels = new Tensor(new Float32Array(n * 3 * 224 * 224).fill(0.5), [n, 3, 224, 224]);
    const start = performance.now();
    await models[dtype].forward({ pixelValues: pixels });
    console.log((performance.now() - start) / 1000);
  }
  process.exit(0);
}

if (!existsSync(join(modelDir, 'model.safetensors'))) {
  console.error(`${modelDir} is missing: run python scripts/make_bench_model.py first`);
  process.exit(1);
}

/** A worker process at `level`: `run(dtype, batch)` resolves to one call's seconds. */
async function worker(level) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'worker'], {
    env: { ...process.env, BEIT_CPU: level },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`the ${level} worker ended early (its error is above)`);
    return value;
  };
  const info = JSON.parse(await next());
  return {
    info,
    run: async (dtype, b) => {
      child.stdin.write(`${dtype} ${b}\n`);
      return Number(await next());
    },
    close: () => child.stdin.end(),
  };
}

const { detected } = cpuInfo();
const wanted = LEVELS.slice(0, LEVELS.indexOf(detected) + 1);
if (wanted.length === 0) {
  console.error('this CPU has no vector level of beit-node (AVX2 + FMA or NEON at least): nothing to compare');
  process.exit(1);
}
const started = await Promise.all(wanted.map(async (l) => [l, await worker(l)]));
// A level this CPU skips (avxvnni on a Zen 4) runs as the one below it: not a column of its own.
for (const [level, w] of started) if (w.info.active !== level) w.close();
const workers = Object.fromEntries(started.filter(([level, w]) => w.info.active === level));
const levels = Object.keys(workers);
console.log(
  `${cpuDescription()}; levels: ${levels.join(', ')}; ${runs} interleaved rounds (median), images/s, model only\n`,
);
console.log(['dtype', 'batch', ...levels, ...levels.slice(1).map((l) => `${l} / ${levels[0]}`)].join(' | '));
for (const dtype of dtypes) {
  for (const b of batches) {
    const times = Object.fromEntries(levels.map((l) => [l, []]));
    for (let round = -1; round < runs; round++) {
      for (const l of levels) {
        const s = await workers[l].run(dtype, b);
        if (round >= 0) times[l].push(s);
      }
    }
    const rate = Object.fromEntries(levels.map((l) => [l, b / median(times[l])]));
    const base = rate[levels[0]];
    console.log(
      [
        dtype,
        b,
        ...levels.map((l) => rate[l].toFixed(2)),
        ...levels.slice(1).map((l) => `${(rate[l] / base).toFixed(2)}x`),
      ].join(' | '),
    );
  }
}
for (const w of Object.values(workers)) w.close();
