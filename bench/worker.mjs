// Throughput through a BullMQ queue (beit-node/worker) against the same work done in-process, on this
// machine over loopback: images/s in-process, with 1 worker process and with 2, and the queue's cost per
// job. Each row runs DURATION seconds (default 10) with IN_FLIGHT jobs kept waiting (default 32).
//   node bench/worker.mjs [MODEL_DIR ...]   (default: the bundled digits model, and bench/models/beit-base-random if made)
// Needs redis-server (started here on a free port) and the root devDependencies bullmq and ioredis.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BeitForImageClassification } from '../dist/index.js';
import { createProducer } from '../dist/worker/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const duration = Number(process.env.DURATION ?? 10) * 1000;
const inFlight = Number(process.env.IN_FLIGHT ?? 32);
const concurrency = 16;
const base = join(root, 'bench/models/beit-base-random');
const models = process.argv.slice(2).length
  ? process.argv.slice(2)
  : [join(root, 'models/beit-digits'), ...(existsSync(base) ? [base] : [])];
const imagesFor = (model) =>
  model.endsWith('beit-digits')
    ? ['digit-0.png', 'digit-3.png', 'digit-7.png'].map((f) => readFileSync(join(root, 'samples/digits', f)))
    : ['astronaut.png', 'chelsea.png', 'coffee.png'].map((f) =>
        readFileSync(join(root, 'crates/beit/tests/fixtures/images', f)),
      );

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  return port;
}

async function startRedis() {
  const port = await freePort();
  const redis = spawn('redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  redis.on('error', () => {
    console.error('redis-server is not installed (apt-get install redis-server)');
    process.exit(1);
  });
  await new Promise((ready) => redis.stdout.on('data', (d) => /Ready to accept/.test(String(d)) && ready()));
  return { url: `redis://127.0.0.1:${port}`, stop: () => redis.kill() };
}

/** Runs `one(i)` with `inFlight` calls outstanding for `duration`; images/s. */
async function saturate(one) {
  let done = 0;
  const end = Date.now() + duration;
  const lane = async (i) => {
    while (Date.now() < end) {
      await one(i++);
      done++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, (_, i) => lane(i)));
  return (done * 1000) / (performance.now() - start);
}

async function inProcess(model, images) {
  const classifier = await BeitForImageClassification.fromPretrained(model);
  await classifier.classify(images[0]);
  const rate = await saturate((i) => classifier.classify(images[i % images.length]));
  await classifier.dispose();
  return rate;
}

function workerProcess(model, url, queue) {
  const args = [join(root, 'dist/cli.js'), 'worker', '--queue', queue, '--redis', url, '--model', model];
  const child = spawn(process.execPath, [...args, '--concurrency', String(concurrency), '--json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = new Promise((resolve) =>
    createInterface({ input: child.stdout }).on('line', (line) => line.includes('"ready"') && resolve()),
  );
  return { child, ready };
}

async function throughQueue(model, images, url, workers) {
  const queue = `bench-${workers}-${basename(model)}`;
  const children = Array.from({ length: workers }, () => workerProcess(model, url, queue));
  await Promise.all(children.map((c) => c.ready));
  const producer = await createProducer({ queue, connection: url, task: 'image-classification', timeoutMs: 120_000 });
  await producer.enqueue(images[0]);
  const rate = await saturate((i) => producer.enqueue(images[i % images.length]));
  await producer.close();
  for (const c of children) c.child.kill('SIGTERM');
  await Promise.all(children.map((c) => once(c.child, 'exit')));
  return rate;
}

const redis = await startRedis();
const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `${cpus().length} CPUs (${cpu}); ${duration / 1000} s a row, ${inFlight} jobs in flight, worker concurrency ${concurrency}\n`,
);
console.log('| model | in-process | 1 worker process | 2 worker processes | queue cost per job (1 worker) |');
console.log('|---|---|---|---|---|');
for (const model of models) {
  const images = imagesFor(model);
  const local = await inProcess(model, images);
  const one = await throughQueue(model, images, redis.url, 1);
  const two = await throughQueue(model, images, redis.url, 2);
  const overheadMs = 1000 / one - 1000 / local;
  console.log(
    `| ${basename(model)} | ${local.toFixed(1)}/s | ${one.toFixed(1)}/s (${(one / local).toFixed(2)}x) | ${two.toFixed(1)}/s (${(two / local).toFixed(2)}x) | ${overheadMs.toFixed(2)} ms |`,
  );
}
redis.stop();
