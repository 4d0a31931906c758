// The server's limits, in one place. Each can be changed with the environment variable of its name;
// a value that is not a positive integer stops the server at start, naming the variable.

/** A positive integer from the environment, or `fallback` when the variable is unset. */
function fromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/**
 * Largest upload in bytes; a longer one is answered 413 as soon as it passes the limit (or from its
 * Content-Length), without reading the rest. 10 MiB holds a phone's 12-megapixel JPEG (3-8 MiB).
 */
export const MAX_BODY_BYTES = fromEnv('MAX_BODY_BYTES', 10 * 1024 * 1024);

/**
 * Requests read or classified at once; more are answered 503 at once, unread. With MAX_BODY_BYTES
 * it bounds the memory uploads hold (64 x 10 MiB = 640 MiB at most), and with the model's speed the
 * wait: BEiT-base at 3 to 5 images/s on 2 cores answers the 64th in 13 to 22 s, inside
 * CLASSIFY_TIMEOUT_MS.
 */
export const MAX_IN_FLIGHT = fromEnv('MAX_IN_FLIGHT', 64);

/**
 * Largest image in pixels, refused from its header before it is decoded. The byte limit does not
 * bound memory: a PNG of a few KB can declare a canvas of 100 million pixels. 40 million holds a
 * 24-megapixel camera's photo; decoded as RGBA it is 160 MB, times the uploads decoded at once.
 */
export const MAX_IMAGE_PIXELS = fromEnv('MAX_IMAGE_PIXELS', 40_000_000);

/** Time to receive the request line and headers (Node's `headersTimeout`): cuts off slowloris clients. */
export const HEADERS_TIMEOUT_MS = fromEnv('HEADERS_TIMEOUT_MS', 10_000);

/**
 * Time to receive the whole request, body included (Node's `requestTimeout`): a client that trickles
 * its upload gets 408. 30 s is MAX_BODY_BYTES at about 700 KB/s.
 */
export const REQUEST_TIMEOUT_MS = fromEnv('REQUEST_TIMEOUT_MS', 30_000);

/**
 * Longest silence on a connection while its upload is read, and between requests on a kept-alive
 * one; the connection is then closed. Not applied while the model works on the upload (see below).
 */
export const IDLE_TIMEOUT_MS = fromEnv('IDLE_TIMEOUT_MS', 5_000);

/**
 * Time from a received upload to its answer (queue wait, preprocessing, forward pass); past it the
 * request leaves the queue and gets 503. The queue's length (MAX_QUEUE) bounds the wait as well.
 */
export const CLASSIFY_TIMEOUT_MS = fromEnv('CLASSIFY_TIMEOUT_MS', 30_000);

/**
 * Requests waiting for a forward pass beyond this are answered 503 at once (the model's `maxQueue`);
 * MAX_IN_FLIGHT, below it by default, is the limit that acts first.
 */
export const MAX_QUEUE = fromEnv('MAX_QUEUE', 256);

/** Images per forward pass (the model's `maxBatchSize`). */
export const MAX_BATCH = fromEnv('MAX_BATCH', 8);
