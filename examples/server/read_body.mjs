// Reads a request body into one Buffer, up to a limit, without ever holding more than the limit.

/** A body over the limit: answered 413. */
export class BodyTooLarge extends Error {
  constructor(limit) {
    super(`the body is over the limit of ${limit} bytes (MAX_BODY_BYTES)`);
    this.code = 'E_TOO_LARGE';
    this.limit = limit;
  }
}

/**
 * The body of `req`, or a rejection: `BodyTooLarge` when Content-Length or the bytes received pass
 * `limit` (the rest is discarded as it arrives, not kept), or the stream's error when the client
 * hangs up mid-upload. Listens with `data` events rather than `for await`: leaving an async iterator
 * early destroys the socket, and the 413 could not be sent.
 */
export function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    // Stays attached for the request's life: an 'error' without a listener would end the process.
    req.on('error', reject);
    if (Number(req.headers['content-length']) > limit) return reject(new BodyTooLarge(limit));
    const chunks = [];
    let size = 0;
    const onData = (chunk) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      req.off('data', onData);
      chunks.length = 0;
      reject(new BodyTooLarge(limit));
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
  });
}
