/**
 * Where a result too large for BullMQ's return value waits for its producer: a Redis key of its own,
 * named after the queue and the job, with a TTL.
 * @module
 */

export function resultKey(queue: string, jobId: string): string {
  return `beit-node:${queue}:result:${jobId}`;
}
