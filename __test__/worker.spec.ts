// beit-node/worker against a real redis-server (started here, on 127.0.0.1 at a free port): results
// equal direct pipeline calls, bad input fails its job only, transient errors are retried, two worker
// processes share a queue with no job lost or done twice, a worker killed mid-batch has its jobs taken
// up by another, a Redis restart is ridden out, health and metrics, and the CLI's `beit worker`.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BeitError,
  BeitForImageClassification,
  bundledModelDir,
  type PipelineTask,
  pipeline,
  Tensor,
} from '../ts/index.js';
import { createProducer, createWorker, enqueue, type WorkerMetrics } from '../ts/worker/index.js';
import { digitsReference } from './helpers/digits.js';
import { startImageServer } from './helpers/image_server.js';
import { type RedisServer, startRedis } from './helpers/redis.js';
import { loadCase, referenceDir } from './helpers/reference.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const digits = bundledModelDir();
const samples = digitsReference.samples.slice(0, 4).map((s) => join(digits, '..', '..', s.file));
const quiet = { handleSignals: false, metricsIntervalMs: 0 } as const;

let redis: RedisServer;
let queues = 0;
const nextQueue = () => `test-${process.pid}-${queues++}`;

// The first run on a machine without redis-server may download and unpack one (helpers/redis_binary.ts).
beforeAll(async () => {
  redis = await startRedis();
}, 300_000);
afterAll(async () => {
  await redis?.stop();
});

/** A reference checkpoint with an image processor for its 32x32 inputs. */
function withProcessor(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'beit-worker-'));
  cpSync(loadCase(name).dir, dir, { recursive: true });
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ size: 32, do_center_crop: false }));
  return dir;
}

/** A worker on `model` for `task`, a producer for its queue, and what the direct pipeline call gives. */
async function served(task: PipelineTask, model: string, options: { inlineResultBytes?: number } = {}) {
  const queue = nextQueue();
  const direct = await pipeline(task, model);
  const worker = await createWorker({ queue, connection: redis.url, task, modelId: model, ...quiet, ...options });
  const producer = await createProducer({ queue, connection: redis.url, task });
  const close = async () => {
    await producer.close();
    await worker.close();
    await direct.dispose();
  };
  return { direct: direct as unknown as (image: unknown, o?: object) => Promise<unknown>, worker, producer, close };
}

/** A child process's JSON lines, as they come. */
function lines(child: ChildProcess): { seen: Record<string, unknown>[]; next(event: string): Promise<void> } {
  const seen: Record<string, unknown>[] = [];
  const waiting: [string, () => void][] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line);
    } catch {
      return;
    }
    seen.push(parsed);
    for (const [i, [event, done]] of waiting.entries()) {
      if (parsed.event === event) {
        waiting.splice(i, 1);
        done();
        break;
      }
    }
  });
  return {
    seen,
    next: (event) => new Promise<void>((done) => waiting.push([event, done])),
  };
}

function workerProcess(queue: string, delayMs: number) {
  const child = spawn(
    process.execPath,
    [join(root, '__test__/helpers/worker_process.mjs'), redis.url, queue, String(delayMs)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return { child, ...lines(child) };
}

describe('beit-node/worker on a real Redis', () => {
  it('image-classification: results equal direct calls, for bytes, raw pixels and files under filesRoot', async () => {
    const queue = nextQueue();
    const model = await BeitForImageClassification.fromPretrained(digits);
    const direct = await pipeline('image-classification', model);
    const filesRoot = dirname(samples[0] as string);
    const worker = await createWorker({
      queue,
      connection: redis.url,
      task: 'image-classification',
      model,
      filesRoot,
      ...quiet,
    });
    const producer = await createProducer({ queue, connection: redis.url, task: 'image-classification' });
    const got = await Promise.all(samples.map((file) => producer.enqueue(readFileSync(file), { topK: 3 })));
    for (const [i, file] of samples.entries()) expect(got[i]).toEqual(await direct(file, { topK: 3 }));
    const progress: number[] = [];
    const fromFile = await producer.enqueue(pathToFileURL(samples[0] as string), {
      topK: 3,
      onProgress: (p) => progress.push(p),
    });
    expect(fromFile).toEqual(got[0]);
    expect(progress).toEqual([10, 90]);
    const raw = { data: new Uint8Array(8 * 8 * 3).fill(200), width: 8, height: 8, channels: 3 as const };
    expect(await producer.enqueue(raw)).toEqual(await direct(raw));
    // The producer downloads a URL and reads a Blob itself: the worker gets bytes, never a URL.
    const images = await startImageServer(readFileSync(samples[0] as string));
    try {
      expect(await producer.enqueue(`${images.origin}/image.png`, { topK: 3 })).toEqual(got[0]);
      expect(await producer.enqueue(new Blob([readFileSync(samples[0] as string)]), { topK: 3 })).toEqual(got[0]);
      const refused = producer.enqueue(`${images.origin}/image.png`, { sources: { network: false } });
      await expect(refused).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    } finally {
      await images.close();
    }
    await producer.close();
    await worker.close();
    expect(model.disposed).toBe(false); // a given model stays the caller's
    await direct.dispose();
  });

  it.each([
    ['image-feature-extraction', 'model_shared_relpos_masked'],
    ['image-segmentation', 'd2v_seg_upernet'],
    ['depth-estimation', 'dpt_beit_depth'],
  ] as const)('%s: results equal direct calls, large ones through a result key', async (task, name) => {
    const dir = task === 'depth-estimation' ? loadCase(name).dir : withProcessor(name);
    // 1 KiB: every result here goes through its own key.
    const { direct, producer, close } = await served(task, dir, { inlineResultBytes: 1024 });
    const image = join(referenceDir, '../images/chelsea.png');
    const bytes = readFileSync(image);
    const got = await producer.enqueue(bytes, { pool: false });
    const want = await direct(bytes);
    if (want instanceof Tensor) {
      expect(got).toBeInstanceOf(Tensor);
      expect((got as Tensor).dims).toEqual(want.dims);
      expect(Array.from((got as Tensor).data)).toEqual(Array.from(want.data));
    } else {
      expect(JSON.parse(JSON.stringify(got))).toEqual(JSON.parse(JSON.stringify(want)));
    }
    await close();
  });

  it('bad input fails its job at once, without retries; the others succeed', async () => {
    const queue = nextQueue();
    const task = 'image-classification';
    const worker = await createWorker({ queue, connection: redis.url, task, modelId: digits, ...quiet });
    const producer = await createProducer({ queue, connection: redis.url, task, attempts: 3, backoffMs: 50 });
    const good = readFileSync(samples[0] as string);
    const [ok, bad, file] = await Promise.allSettled([
      producer.enqueue(good),
      producer.enqueue(Buffer.from('not an image at all'), { jobId: 'bad-image' }),
      producer.enqueue(samples[1] as string),
    ]);
    expect(ok.status).toBe('fulfilled');
    expect(bad).toMatchObject({ status: 'rejected', reason: { code: 'E_IMAGE' } });
    expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(BeitError);
    expect((await producer.queue.getJob('bad-image'))?.attemptsMade).toBe(1);
    // This worker has no filesRoot: jobs may not name files.
    expect(file).toMatchObject({ status: 'rejected', reason: { code: 'E_INVALID_ARGUMENT' } });
    expect(String((file as PromiseRejectedResult).reason.message)).toMatch(/takes no file paths/);
    await producer.close();
    await worker.close();
  });

  it('a file outside filesRoot is refused', async () => {
    const queue = nextQueue();
    const task = 'image-classification';
    const filesRoot = mkdtempSync(join(tmpdir(), 'beit-files-'));
    const worker = await createWorker({ queue, connection: redis.url, task, modelId: digits, filesRoot, ...quiet });
    await expect(enqueue({ queue, connection: redis.url, task }, samples[0] as string)).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringMatching(/outside the worker's filesRoot/),
    });
    await worker.close();
  });

  it('a transient failure (E_OVERLOADED) is retried with backoff, then succeeds', async () => {
    const queue = nextQueue();
    const model = await BeitForImageClassification.fromPretrained(digits);
    const classify = model.classify.bind(model);
    let calls = 0;
    model.classify = async (...args: Parameters<typeof classify>) => {
      calls++;
      if (calls === 1) throw new BeitError('E_OVERLOADED', 'the queue is full');
      return classify(...args);
    };
    const task = 'image-classification';
    const worker = await createWorker({ queue, connection: redis.url, task, model, ...quiet });
    const producer = await createProducer({ queue, connection: redis.url, task, attempts: 3, backoffMs: 20 });
    const labels = await producer.enqueue(readFileSync(samples[0] as string), { jobId: 'retried' });
    expect(labels).toEqual(await classify(samples[0] as string).then((r) => r[0]));
    expect((await producer.queue.getJob('retried'))?.attemptsMade).toBe(2);
    await producer.close();
    await worker.close();
    await model.dispose();
  });

  it('two worker processes share one queue: every job done, none twice', async () => {
    const queue = nextQueue();
    const workers = [workerProcess(queue, 5), workerProcess(queue, 5)];
    await Promise.all(workers.map((w) => w.next('ready')));
    const producer = await createProducer({ queue, connection: redis.url, task: 'image-classification' });
    const ids = Array.from({ length: 40 }, (_, i) => `job-${i}`);
    const images = ids.map((_, i) => readFileSync(samples[i % samples.length] as string));
    try {
      await Promise.all(ids.map((jobId, i) => producer.enqueue(images[i] as Buffer, { jobId })));
    } finally {
      // Stopped first, so that every 'completed' line is in.
      for (const w of workers) w.child.kill('SIGTERM');
      await Promise.all(workers.map((w) => once(w.child, 'exit')));
      await producer.close();
    }
    const done = workers.flatMap((w) => w.seen.filter((e) => e.event === 'completed').map((e) => e.id));
    expect([...done].sort()).toEqual([...ids].sort());
    for (const w of workers) expect(w.seen.some((e) => e.event === 'completed')).toBe(true);
  });

  it('a worker killed mid-batch (SIGKILL): its jobs are taken up by another and finished', async () => {
    const queue = nextQueue();
    const first = workerProcess(queue, 400);
    await first.next('ready');
    const producer = await createProducer({
      queue,
      connection: redis.url,
      task: 'image-classification',
      timeoutMs: 30_000,
    });
    const results = Promise.all(
      Array.from({ length: 8 }, (_, i) => producer.enqueue(readFileSync(samples[i % samples.length] as string))),
    );
    await first.next('active');
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    const ids = (w: typeof first, event: string) => w.seen.filter((e) => e.event === event).map((e) => String(e.id));
    // Each job holds 400 ms: those the first worker had started were still running when it died.
    const stalled = ids(first, 'active');
    expect(stalled.length).toBeGreaterThan(0);
    const second = workerProcess(queue, 0);
    try {
      expect(await results).toHaveLength(8);
    } finally {
      second.child.kill('SIGTERM');
      await once(second.child, 'exit');
      await producer.close();
    }
    expect(ids(first, 'completed')).toEqual([]);
    for (const id of stalled) expect(ids(second, 'completed')).toContain(id);
  }, 30_000);

  it('Redis restarted during a run: the worker reconnects and goes on', async () => {
    const queue = nextQueue();
    const task = 'image-classification';
    const worker = await createWorker({ queue, connection: redis.url, task, modelId: digits, ...quiet });
    const producer = await createProducer({ queue, connection: redis.url, task, timeoutMs: 20_000 });
    const before = await producer.enqueue(readFileSync(samples[0] as string));
    await redis.stop();
    await new Promise((done) => setTimeout(done, 500));
    await redis.start();
    const after = await producer.enqueue(readFileSync(samples[0] as string));
    expect(after).toEqual(before);
    expect(worker.health.ready).toBe(true);
    await producer.close();
    await worker.close();
  }, 30_000);

  it('health over HTTP, metrics as events, and close() waits for running jobs', async () => {
    const queue = nextQueue();
    const task = 'image-classification';
    const worker = await createWorker({
      queue,
      connection: redis.url,
      task,
      modelId: digits,
      handleSignals: false,
      healthPort: 0,
      metricsIntervalMs: 200,
    });
    const url = `http://127.0.0.1:${worker.healthPort}`;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect((await fetch(`${url}/nothing`)).status).toBe(404);
    const metrics = once(worker, 'metrics') as Promise<[WorkerMetrics]>;
    const producer = await createProducer({ queue, connection: redis.url, task });
    await Promise.all(samples.map((f) => producer.enqueue(readFileSync(f))));
    const [m] = await metrics;
    expect(m.completed).toBe(samples.length);
    expect(m.meanBatchSize).toBeGreaterThanOrEqual(1);
    const pending = producer.enqueue(readFileSync(samples[0] as string));
    await once(worker, 'active');
    await worker.close();
    await expect(pending).resolves.toHaveLength(5);
    expect(worker.health).toMatchObject({ ready: false, closing: true, completed: samples.length + 1 });
    await producer.close();
  });

  it('beit worker (CLI) serves a queue until SIGTERM, then exits 0', async () => {
    const queue = nextQueue();
    const cli = spawn(
      process.execPath,
      [join(root, 'dist/cli.js'), 'worker', '--queue', queue, '--redis', redis.url, '--model', digits, '--json'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const out = lines(cli);
    await out.next('ready');
    const labels = await enqueue(
      { queue, connection: redis.url, task: 'image-classification' },
      readFileSync(samples[0] as string),
    );
    const model = (await pipeline('image-classification', digits)) as unknown as {
      (image: unknown): Promise<unknown>;
      dispose(): Promise<void>;
    };
    expect(labels).toEqual(await model(samples[0]));
    await model.dispose();
    cli.kill('SIGTERM');
    const [code] = await once(cli, 'exit');
    expect(code).toBe(0);
    expect(out.seen.at(-1)).toMatchObject({ event: 'closed', completed: 1 });
  });
});
