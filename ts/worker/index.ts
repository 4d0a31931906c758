/**
 * `beit-node/worker`: beit-node models serving a BullMQ queue on Redis, and producers that enqueue
 * images and get their results. Needs `bullmq` and `ioredis` (optional peer dependencies).
 * @module beit-node/worker
 */
export type { RedisConnection } from './connection.js';
export type { WorkerHealth } from './health.js';
export type { JobOptions, JobResult, QueueImage } from './jobs.js';
export { BeitProducer, createProducer, type EnqueueOptions, enqueue, type ProducerOptions } from './producer.js';
export { BeitWorker, createWorker, type WorkerMetrics, type WorkerOptions } from './worker.js';
