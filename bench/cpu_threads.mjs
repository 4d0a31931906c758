// beit-node on the CPU as cores are added, against onnxruntime on the same model: BEiT-base 224 with
// random weights (bench/ort_threads.py writes it once as a checkpoint and as ONNX), batch 8, model only,
// at 1, 4, 8 and 16 threads. beit-node in float32, bfloat16 and q8; onnxruntime in float32 (its
// CPUExecutionProvider, intra-op threads). Each figure from a fresh process, the contenders in turns.
//
//   node bench/cpu_threads.mjs [--threads 1,4,8,16] [--dtypes float32,bfloat16,q8] [--batch 8] [--seconds 3]
//                              [--rounds 2] [--python python3] [--dir DIR]
//
// One JSON line per figure ({impl, dtype, threads, batch, images_per_s, ms_median, runs, round}), then
// a summary line per thread count and dtype with beit-node's ratio to onnxruntime. beit-node's threads:
// BEIT_NUM_THREADS (its shared pool; the figure records cpuInfo().threads). Needs dist/ and Python with torch, transformers,
// onnxruntime (the GPU machine has them).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '1,4,8,16' },
    dtypes: { type: 'string', default: 'float32,bfloat16,q8' },
    batch: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    python: { type: 'string', default: 'python3' },
    dir: { type: 'string' },
    child: { type: 'string' },
  },
});
const batch = Number(values.batch);
const seconds = Number(values.seconds);

/** The child: beit-node's forward timing in this process, at the dtype named. */
async function beitChild(dir, dtype) {
  const { BeitForImageClassification, Tensor, cpuInfo } = await import('../dist/index.js');
  const model = await BeitForImageClassification.fromPretrained(dir, { dtype });
  const data = Float32Array.from({ length: batch * 3 * 224 * 224 }, (_, i) => Math.sin(i) * 0.5);
  const pixelValues = new Tensor(data, [batch, 3, 224, 224]);
  await model.forward({ pixelValues });
  const times = [];
  const until = performance.now() + seconds * 1000;
  while (times.length < 2 || performance.now() < until) {
    const started = performance.now();
    await model.forward({ pixelValues });
    times.push(performance.now() - started);
  }
  await model.dispose();
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const threads = cpuInfo().threads;
  const line = { impl: 'beit-node', dtype, threads, batch, images_per_s: (batch * 1000) / median };
  console.log(JSON.stringify({ ...line, ms_median: median, runs: times.length }));
}

/** Runs a contender's process; its JSON line, or an error line. */
function figure(command, args, env, fields) {
  const run = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  const line = run.stdout.trim().split('\n').pop();
  try {
    return { ...JSON.parse(line ?? ''), ...fields };
  } catch {
    return { ...fields, error: (run.stderr || run.stdout || String(run.error)).trim().split('\n').slice(-3).join(' ') };
  }
}

async function main() {
  const dir = values.dir ?? join(mkdtempSync(join(tmpdir(), 'beit-cpu-threads-')), 'beit-base');
  if (!existsSync(join(dir, 'model.onnx'))) {
    const made = spawnSync(values.python, ['bench/ort_threads.py', 'export', dir], { stdio: 'inherit' });
    if (made.status !== 0) throw new Error(`bench/ort_threads.py export failed (${made.status})`);
  }
  const dtypes = values.dtypes.split(',').filter(Boolean);
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const threads of values.threads.split(',').map(Number)) {
      const common = ['--batch', String(batch), '--seconds', String(seconds)];
      const ort = ['bench/ort_threads.py', 'time', dir, '--threads', String(threads), ...common];
      record(figure(values.python, ort, {}, { round, threads }), 'ort');
      for (const dtype of dtypes) {
        const args = ['bench/cpu_threads.mjs', '--child', dtype, '--dir', dir, ...common];
        record(figure(process.execPath, args, { BEIT_NUM_THREADS: String(threads) }, { round, threads }), dtype);
      }
    }
  }
  printSummary(dtypes);
}

/** images/s by "threads contender", each round's figure. */
const summary = {};

/** Prints a figure and keeps it for the summary under its contender (`ort` or beit-node's dtype). */
function record(line, contender) {
  console.log(JSON.stringify(line));
  const key = `${line.threads} ${contender}`;
  summary[key] = [...(summary[key] ?? []), line.images_per_s];
}

function printSummary(dtypes) {
  const best = (key) => {
    const figures = (summary[key] ?? []).filter(Number.isFinite);
    return figures.length > 0 ? Math.max(...figures) : null;
  };
  for (const threads of values.threads.split(',')) {
    for (const dtype of dtypes) {
      const ours = best(`${threads} ${dtype}`);
      const ort = best(`${threads} ort`);
      console.log(
        JSON.stringify({
          summary: true,
          threads: Number(threads),
          dtype,
          beit: ours,
          ort,
          ratio: ours && ort ? ours / ort : null,
        }),
      );
    }
  }
}

if (values.child) await beitChild(values.dir, values.child);
else await main();
