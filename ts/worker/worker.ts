/**
 * `createWorker`: a beit-node model serving a BullMQ queue. Jobs run concurrently in the process and
 * meet in the model's batching queue, so the jobs one worker holds share forward passes. BullMQ gives
 * the guarantees: a job is locked while it runs and taken up again by another worker if this one dies
 * (at least once), transient failures are retried with the producer's backoff, and bad input fails its
 * job at once.
 * @module
 */
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { Worker as BullWorker, Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { BeitError, type BeitErrorCode } from '../errors.js';
import type { BeitForSemanticSegmentation, BeitPreTrainedModel } from '../models.js';
import type { LoadOptions } from '../options.js';
import { type PipelineTask, pipeline } from '../pipeline.js';
import type { ImageInput } from '../processor.js';
import type { Tensor } from '../tensor.js';
import { loadQueueLibraries } from './bullmq.js';
import { connectionOptions, type RedisConnection } from './connection.js';
import { serveHealth, type WorkerHealth } from './health.js';
import { decodeImage, encodeResult, type JobData, type JobOptions, realFilesRoot, type TaskOutput } from './jobs.js';
import { resultKey } from './result_key.js';

/** What `createWorker` takes: the queue, the Redis server, the task and its model, how the worker runs. */
export interface WorkerOptions {
  /** The BullMQ queue's name. */
  queue: string;
  /** The Redis server. */
  connection: RedisConnection;
  /** What the jobs ask: `pipeline()`'s tasks. */
  task: PipelineTask;
  /** A model already loaded (the worker does not dispose it), or… */
  model?: BeitPreTrainedModel<unknown>;
  /** …a checkpoint directory or repo id, loaded by the task's Auto class (and disposed on close). */
  modelId?: string;
  /** Options of that load. */
  loadOptions?: LoadOptions;
  /** Jobs run at once in this process (default 16: two of the model queue's default batches). */
  concurrency?: number;
  /** The directory under which jobs may name image files; without it, jobs must carry their images. */
  filesRoot?: string;
  /** Results larger than this many bytes of JSON go to a Redis key of their own (default 256 KiB). */
  inlineResultBytes?: number;
  /** How long such a result key lives (default 3600 s). */
  resultTtlSeconds?: number;
  /** BullMQ's lock on a running job, renewed while it runs (default 30 s): a dead worker's jobs are taken up again after it. */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for (default 30 s). */
  stalledIntervalMs?: number;
  /** How many times a job may stall before it fails (default 1). */
  maxStalledCount?: number;
  /** How long `close()` waits for running jobs before handing them back to the queue (default 30 s). */
  shutdownTimeoutMs?: number;
  /** Serve `/healthz` and `/readyz` on this port (0: any free one; see `healthHost`). */
  healthPort?: number;
  /** The address the health server listens on (default 127.0.0.1; 0.0.0.0 for Kubernetes probes). */
  healthHost?: string;
  /** How often a `metrics` event is emitted (default 10 s; 0: never). */
  metricsIntervalMs?: number;
  /** Close on SIGTERM and SIGINT (default true). */
  handleSignals?: boolean;
}

/** What a `metrics` event carries, over the last interval. */
export interface WorkerMetrics {
  /** The length of the interval, in milliseconds. */
  intervalMs: number;
  /** Jobs completed in the interval. */
  completed: number;
  /** Jobs failed in the interval. */
  failed: number;
  /** Jobs completed per second. */
  jobsPerSecond: number;
  /** Images per forward pass of the model's batching queue. */
  meanBatchSize: number;
  /** From a job's creation to its start here. */
  meanQueueWaitMs: number;
  /** Jobs running when the event is emitted. */
  active: number;
}

/** Failures that another attempt cannot fix: the job fails at once, without retries. */
const PERMANENT = new Set<BeitErrorCode>([
  'E_IMAGE',
  'E_SHAPE',
  'E_CONFIG',
  'E_INVALID_ARGUMENT',
  'E_IO',
  'E_NOT_FOUND',
  'E_WEIGHTS',
]);

type Runner = (image: ImageInput, options: JobOptions) => Promise<TaskOutput>;

/** One image through the task, in the form a job result stores. */
async function runnerFor(task: PipelineTask, model: BeitPreTrainedModel<unknown>): Promise<Runner> {
  switch (task) {
    case 'image-classification': {
      const run = await pipeline(task, model);
      return async (image, o) => ({ task, labels: await run(image, { topK: o.topK ?? 5 }) });
    }
    case 'image-feature-extraction': {
      const run = await pipeline(task, model);
      return async (image, o) => ({ task, features: await run(image, { pool: o.pool ?? false }) });
    }
    case 'image-segmentation': {
      // The label map itself, not one mask per class: the producer makes the masks.
      const segmenter = (await pipeline(task, model)).model as BeitForSemanticSegmentation;
      return async (image) => {
        const [labelMap] = await segmenter.segment(image);
        return { task, labelMap: labelMap as Tensor, id2label: segmenter.config.id2label };
      };
    }
    case 'depth-estimation': {
      const run = await pipeline(task, model);
      return async (image) => ({ task, result: await run(image) });
    }
  }
}

/**
 * A worker serving a queue. Events: `ready`, `active` (job id, as it starts), `completed` (job id),
 * `failed` (job id, BeitError),
 * `metrics` (WorkerMetrics), `error` (Redis and queue errors; the worker reconnects by itself, and
 * without a listener they are not thrown), `closed`.
 */
export class BeitWorker extends EventEmitter {
  readonly #options: WorkerOptions;
  readonly #model: BeitPreTrainedModel<unknown>;
  readonly #owned: boolean;
  #bull: BullWorker | undefined;
  #redis: Redis | undefined;
  #health: Server | undefined;
  #filesRoot: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  #ready = false;
  #active = 0;
  #completed = 0;
  #failed = 0;
  #waits = { sum: 0, count: 0 };
  #last = { at: Date.now(), completed: 0, failed: 0, batches: 0, requests: 0 };
  readonly #onSignal = () => void this.close();

  /** @internal Use `createWorker`. */
  constructor(options: WorkerOptions, model: BeitPreTrainedModel<unknown>, owned: boolean) {
    super();
    this.#options = options;
    this.#model = model;
    this.#owned = owned;
  }

  /** The model the worker runs. */
  get model(): BeitPreTrainedModel<unknown> {
    return this.#model;
  }

  /** Where the worker stands (also served as `/readyz` and `/healthz`). */
  get health(): WorkerHealth {
    return {
      ready: this.#ready,
      closing: this.#closing !== undefined,
      active: this.#active,
      completed: this.#completed,
      failed: this.#failed,
    };
  }

  /** The health server's port, when one was asked for. */
  get healthPort(): number | undefined {
    const address = this.#health?.address();
    return typeof address === 'object' && address ? address.port : undefined;
  }

  /** @internal Connects to the queue and starts taking jobs. */
  async start(): Promise<void> {
    const o = this.#options;
    const { bullmq, Redis } = await loadQueueLibraries();
    const { Worker, UnrecoverableError } = bullmq;
    const run = await runnerFor(o.task, this.#model);
    this.#filesRoot = o.filesRoot ? await realFilesRoot(o.filesRoot) : undefined;
    const processJob = async (job: Job<JobData>) => {
      this.#active++;
      this.#waits.sum += Date.now() - job.timestamp;
      this.#waits.count++;
      this.emit('active', job.id);
      try {
        return await this.#process(job, run);
      } catch (err) {
        const e = BeitError.fromNative(err);
        const message = `[${e.code}] ${e.message}`;
        throw PERMANENT.has(e.code) ? new UnrecoverableError(message) : new Error(message);
      } finally {
        this.#active--;
      }
    };
    const connection = connectionOptions(o.connection);
    // Results too large for a return value go to keys of their own, over a connection of their own.
    this.#redis = new Redis({ ...connection, maxRetriesPerRequest: null });
    this.#redis.on('error', (err) => this.#report(err));
    const bull = new Worker(o.queue, processJob, {
      connection,
      concurrency: o.concurrency ?? 16,
      lockDuration: o.lockDurationMs ?? 30_000,
      stalledInterval: o.stalledIntervalMs ?? 30_000,
      maxStalledCount: o.maxStalledCount ?? 1,
      autorun: false,
    });
    this.#bull = bull;
    bull.on('error', (err) => this.#report(err));
    bull.on('completed', (job) => {
      this.#completed++;
      this.emit('completed', job.id);
    });
    bull.on('failed', (job, err) => {
      this.#failed++;
      this.emit('failed', job?.id, BeitError.fromNative(err));
    });
    void bull.run().catch((err) => this.#report(err));
    await bull.waitUntilReady();
    if (o.healthPort !== undefined) {
      this.#health = await serveHealth(o.healthHost ?? '127.0.0.1', o.healthPort, () => this.health);
    }
    const interval = o.metricsIntervalMs ?? 10_000;
    if (interval > 0) this.#timer = setInterval(() => this.emit('metrics', this.#metrics()), interval).unref();
    if (o.handleSignals ?? true) {
      process.once('SIGTERM', this.#onSignal);
      process.once('SIGINT', this.#onSignal);
    }
    this.#ready = true;
    this.emit('ready');
  }

  async #process(job: Job<JobData>, run: Runner): Promise<unknown> {
    const o = this.#options;
    const { task, image, options } = job.data ?? ({} as JobData);
    if (task !== o.task) {
      throw new BeitError('E_INVALID_ARGUMENT', `job ${job.id} is for ${task}; this worker runs ${o.task}`);
    }
    await job.updateProgress(10);
    const output = await run(await decodeImage(image, this.#filesRoot), options ?? {});
    await job.updateProgress(90);
    const result = encodeResult(output);
    const json = JSON.stringify(result);
    if (json.length <= (o.inlineResultBytes ?? 256 * 1024)) return result;
    // A large result (a label map, every token's features) under a key of its own, with a TTL.
    const key = resultKey(o.queue, String(job.id));
    await (this.#redis as Redis).set(key, json, 'EX', o.resultTtlSeconds ?? 3600);
    return { resultKey: key };
  }

  /** Redis and queue errors go to `error` listeners if there are any: unheard, they must not throw. */
  #report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  #metrics(): WorkerMetrics {
    const now = Date.now();
    const { batches, requests } = this.#model.queue;
    const last = this.#last;
    const intervalMs = now - last.at;
    const completed = this.#completed - last.completed;
    const metrics = {
      intervalMs,
      completed,
      failed: this.#failed - last.failed,
      jobsPerSecond: (completed * 1000) / Math.max(intervalMs, 1),
      meanBatchSize: batches > last.batches ? (requests - last.requests) / (batches - last.batches) : 0,
      meanQueueWaitMs: this.#waits.count ? this.#waits.sum / this.#waits.count : 0,
      active: this.#active,
    };
    this.#last = { at: now, completed: this.#completed, failed: this.#failed, batches, requests };
    this.#waits = { sum: 0, count: 0 };
    return metrics;
  }

  /**
   * Stops taking jobs, lets the running ones finish (after `shutdownTimeoutMs`, hands them back to the
   * queue, where another worker takes them up), then frees the model if the worker loaded it.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#ready = false;
    process.off('SIGTERM', this.#onSignal);
    process.off('SIGINT', this.#onSignal);
    clearInterval(this.#timer);
    const bull = this.#bull;
    if (bull) {
      const timeout = this.#options.shutdownTimeoutMs ?? 30_000;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((done) => {
        timer = setTimeout(() => done('late'), timeout);
      });
      if ((await Promise.race([bull.close(), late])) === 'late') await bull.close(true);
      clearTimeout(timer);
    }
    await this.#redis?.quit().catch(() => {});
    await new Promise<void>((done) => (this.#health ? this.#health.close(() => done()) : done()));
    if (this.#owned) await this.#model.dispose();
    this.emit('closed');
  }
}

/**
 * Loads the model (or takes `model`), connects to the queue and starts taking jobs; resolves once the
 * worker is ready.
 *
 * @example
 * ```ts
 * import { createWorker } from 'beit-node/worker';
 * const worker = await createWorker({
 *   queue: 'classify', connection: 'redis://127.0.0.1:6379',
 *   task: 'image-classification', modelId: 'microsoft/beit-base-patch16-224',
 * });
 * worker.on('metrics', (m) => console.log(m.jobsPerSecond));
 * ```
 * @throws BeitError `E_INVALID_ARGUMENT` without a model, or without bullmq installed; what loading throws.
 */
export async function createWorker(options: WorkerOptions): Promise<BeitWorker> {
  if (!options.model === !options.modelId) {
    throw new BeitError('E_INVALID_ARGUMENT', 'createWorker takes a model or a modelId (one of them)');
  }
  const model =
    options.model ?? (await pipeline(options.task, options.modelId as string, options.loadOptions ?? {})).model;
  const worker = new BeitWorker(options, model, !options.model);
  try {
    await worker.start();
  } catch (err) {
    await worker.close();
    throw err;
  }
  return worker;
}
