/**
 * BullMQ and ioredis, loaded when a worker or producer is made: they are optional peer dependencies,
 * so the core package does not pull them in.
 * @module
 */
import { BeitError } from '../errors.js';

export interface QueueLibraries {
  bullmq: typeof import('bullmq');
  Redis: typeof import('ioredis').Redis;
}

export async function loadQueueLibraries(): Promise<QueueLibraries> {
  try {
    const [bullmq, ioredis] = await Promise.all([import('bullmq'), import('ioredis')]);
    return { bullmq, Redis: ioredis.Redis };
  } catch (err) {
    throw new BeitError(
      'E_INVALID_ARGUMENT',
      'beit-node/worker needs bullmq and ioredis, which beit-node does not install itself: npm install bullmq ioredis',
      { cause: err },
    );
  }
}
