/**
 * Where Redis is: a `redis://` or `rediss://` URL, or ioredis's connection options, turned into the
 * options BullMQ connects with.
 * @module
 */
import type { RedisOptions } from 'bullmq';
import { BeitError } from '../errors.js';

/** A Redis server: `redis://[user:password@]host[:port][/db]` (`rediss://` for TLS), or connection options
 * (ioredis's: host, port, password, tls, ...). */
export type RedisConnection = string | RedisOptions;

export function connectionOptions(connection: RedisConnection): RedisOptions {
  if (typeof connection !== 'string') return { ...connection };
  let url: URL;
  try {
    url = new URL(connection);
  } catch {
    throw new BeitError(
      'E_INVALID_ARGUMENT',
      `the Redis URL ${JSON.stringify(connection)} is not a URL (redis://host:port)`,
    );
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new BeitError('E_INVALID_ARGUMENT', `a Redis URL starts with redis:// or rediss://, got ${url.protocol}//`);
  }
  const db = url.pathname.replace(/^\//, '');
  return {
    host: url.hostname || '127.0.0.1',
    port: url.port ? Number(url.port) : 6379,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}
