// A beit-node worker serving the queue `classify` (start as many as you like, on any machines that
// reach the Redis server):
//   REDIS_URL=redis://127.0.0.1:6379 MODEL=microsoft/beit-base-patch16-224 node examples/worker/worker.mjs
// It stops taking jobs on SIGTERM, finishes the running ones, and exits.
import { createWorker } from 'beit-node/worker';

const worker = await createWorker({
  queue: process.env.QUEUE ?? 'classify',
  connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  task: 'image-classification',
  modelId: process.env.MODEL ?? 'microsoft/beit-base-patch16-224',
  concurrency: Number(process.env.CONCURRENCY ?? 16),
  healthPort: process.env.HEALTH_PORT ? Number(process.env.HEALTH_PORT) : undefined,
  healthHost: '0.0.0.0',
});
worker.on('metrics', (m) =>
  console.log(`${m.jobsPerSecond.toFixed(1)} jobs/s, ${m.meanBatchSize.toFixed(1)} images a batch, waited ${m.meanQueueWaitMs.toFixed(0)} ms`),
);
worker.on('failed', (id, err) => console.error(`job ${id}: [${err.code}] ${err.message}`));
worker.on('error', (err) => console.error(`queue: ${err.message}`));
worker.on('closed', () => console.log('closed'));
console.log(`pid ${process.pid} serving ${process.env.QUEUE ?? 'classify'}`);
