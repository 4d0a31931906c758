/**
 * `createProducer` / `enqueue`: images onto a BullMQ queue that beit-node workers serve, and each
 * job's result back, as `pipeline(task)` gives it for one image.
 * @module
 */
import type { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { BeitError } from '../errors.js';
import type { ImageSourceOptions } from '../image_download.js';
import type { PipelineTask } from '../pipeline.js';
import { loadQueueLibraries } from './bullmq.js';
import { connectionOptions, type RedisConnection } from './connection.js';
import {
  decodeResult,
  type EncodedResult,
  encodeImage,
  type JobData,
  type JobOptions,
  type JobResult,
  type QueueImage,
} from './jobs.js';

/** Options of {@link createProducer}. */
export interface ProducerOptions {
  /** The BullMQ queue's name, as its workers were given it. */
  queue: string;
  /** The Redis server: a `redis://` URL or ioredis options. */
  connection: RedisConnection;
  /** The task the queue's workers run. */
  task: PipelineTask;
  /** Attempts per job, the first included (default 3): failures other than bad input are retried. */
  attempts?: number;
  /** The first retry's delay, doubled at each next one (default 1000 ms). */
  backoffMs?: number;
  /** How long `enqueue` waits for a result (default 60 s). */
  timeoutMs?: number;
}

/** Options of one job. */
export interface EnqueueOptions extends JobOptions {
  /** Withdraws the job if no worker has taken it yet, and rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** This job's wait for its result, instead of the producer's. */
  timeoutMs?: number;
  /** A job id of your own: a second job with the same id is not added again (BullMQ's deduplication). */
  jobId?: string;
  /** Called with the job's progress, in percent: 10 when a worker has started it, 90 once computed. */
  onProgress?: (percent: number) => void;
  /** Where the image may come from, and the bounds of its download (the producer downloads URLs). */
  sources?: ImageSourceOptions;
}

/** Puts images on a queue that beit-node workers serve, and brings each job's result back. */
export class BeitProducer {
  readonly #options: ProducerOptions;
  readonly #queue: Queue;
  readonly #events: QueueEvents;
  readonly #redis: Redis;

  /** @internal Use `createProducer`. */
  constructor(options: ProducerOptions, queue: Queue, events: QueueEvents, redis: Redis) {
    this.#options = options;
    this.#queue = queue;
    this.#events = events;
    this.#redis = redis;
  }

  /** The BullMQ queue, for what this class does not cover (counts, pausing, cleaning). */
  get queue(): Queue {
    return this.#queue;
  }

  /**
   * Adds a job for `image` (any `ImageInput`: a URL is downloaded here, and its bytes sent) and
   * resolves with its result once a worker has run it.
   * @throws BeitError with the worker's code (`E_IMAGE` for an image that does not decode, at once;
   *   others after the last attempt), `E_TIMEOUT` when no result came within the timeout.
   */
  async enqueue(image: QueueImage, options: EnqueueOptions = {}): Promise<JobResult> {
    const { signal, timeoutMs, jobId, onProgress, sources, ...jobOptions } = options;
    signal?.throwIfAborted();
    const o = this.#options;
    const data: JobData = { task: o.task, image: await encodeImage(image, { sources, signal }), options: jobOptions };
    const job = await this.#queue.add(o.task, data, {
      attempts: o.attempts ?? 3,
      backoff: { type: 'exponential', delay: o.backoffMs ?? 1000 },
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 24 * 3600 },
      ...(jobId ? { jobId } : {}),
    });
    const wait = timeoutMs ?? o.timeoutMs ?? 60_000;
    const progress = ({ jobId: id, data }: { jobId: string; data: unknown }) => {
      if (id === job.id && typeof data === 'number') onProgress?.(data);
    };
    if (onProgress) this.#events.on('progress', progress);
    const finished = job.waitUntilFinished(this.#events, wait).finally(() => this.#events.off('progress', progress));
    const settled = finished.catch((err: Error) => {
      if (/timed out before finishing/.test(err.message)) {
        throw new BeitError('E_TIMEOUT', `job ${job.id} brought no result within ${wait} ms: are workers running?`);
      }
      throw BeitError.fromNative(err);
    });
    const value = await (signal ? withAbort(settled, signal, () => job.remove().catch(() => {})) : settled);
    return decodeResult(await this.#stored(value, String(job.id)));
  }

  /** A result, fetched from its own key when the worker put it there (and the key removed). */
  async #stored(value: unknown, jobId: string): Promise<EncodedResult> {
    const key = (value as { resultKey?: unknown })?.resultKey;
    if (typeof key !== 'string') return value as EncodedResult;
    const json = await this.#redis.get(key);
    if (json === null) throw new BeitError('E_NOT_FOUND', `the result of job ${jobId} expired before it was read`);
    await this.#redis.del(key);
    return JSON.parse(json) as EncodedResult;
  }

  /** Closes the producer's Redis connections; jobs already queued stay for the workers. */
  async close(): Promise<void> {
    await Promise.all([this.#events.close(), this.#queue.close(), this.#redis.quit().catch(() => {})]);
  }
}

/** `pending`, or `signal.reason` once aborted (after `onAbort`). */
function withAbort<T>(pending: Promise<T>, signal: AbortSignal, onAbort: () => Promise<void>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => void onAbort().then(() => reject(signal.reason));
    signal.addEventListener('abort', abort, { once: true });
    pending.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/**
 * A producer for a queue served by beit-node workers.
 *
 * @example
 * ```ts
 * import { createProducer } from 'beit-node/worker';
 * const producer = await createProducer({ queue: 'classify', connection: 'redis://127.0.0.1:6379', task: 'image-classification' });
 * const labels = await producer.enqueue(readFileSync('cat.jpg'), { topK: 3 });
 * await producer.close();
 * ```
 */
export async function createProducer(options: ProducerOptions): Promise<BeitProducer> {
  const { bullmq, Redis } = await loadQueueLibraries();
  const connection = connectionOptions(options.connection);
  const queue = new bullmq.Queue(options.queue, { connection });
  const events = new bullmq.QueueEvents(options.queue, { connection });
  // Results too large for a return value are read from keys of their own.
  const redis = new Redis({ ...connection, maxRetriesPerRequest: null });
  redis.on('error', () => {});
  // Each waiting enqueue listens on both: many may wait at once.
  queue.setMaxListeners(0);
  events.setMaxListeners(0);
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  return new BeitProducer(options, queue, events, redis);
}

/** One job on a producer of its own, closed afterwards: for a few jobs; reuse `createProducer` for many. */
export async function enqueue(
  options: ProducerOptions,
  image: QueueImage,
  job: EnqueueOptions = {},
): Promise<JobResult> {
  const producer = await createProducer(options);
  try {
    return await producer.enqueue(image, job);
  } finally {
    await producer.close();
  }
}
