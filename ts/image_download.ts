/**
 * Bounded downloads of images from `http:` / `https:` URLs, and bounded reads of fetch `Response`s:
 * a byte limit, a timeout for the answer and one for the whole transfer, a redirect limit, http(s)
 * only (redirects included), `AbortSignal`. Everything stays in memory: nothing is written to disk.
 * @module
 */
import { BeitError } from './errors.js';

/**
 * Where images may come from and how downloads are bounded. Every call that takes images takes these
 * as `{ sources }`.
 *
 * @example
 * ```ts
 * // A server that classifies what its users send: no URLs fetched for them, no files read for them.
 * await model.classify(upload, { sources: { network: false, files: false } });
 * // Downloads bounded more tightly than the defaults.
 * await model.classify('https://example.com/cat.jpg', { sources: { maxBytes: 5e6, timeoutMs: 10_000 } });
 * ```
 */
export interface ImageSourceOptions {
  /** Whether `http:` / `https:` URLs are downloaded; `false` refuses them (`E_INVALID_ARGUMENT`). Default true. */
  network?: boolean;
  /** Whether file paths and `file:` URLs are read; `false` refuses them (`E_INVALID_ARGUMENT`). Default true. */
  files?: boolean;
  /** The most bytes one download, `Blob`, `Response` or `data:` URL may hold. Default 64 MiB. */
  maxBytes?: number;
  /** How long a server may take to answer (connect, request, response headers), per hop. Default 10 s. */
  connectTimeoutMs?: number;
  /** How long one download may take in all, redirects included. Default 60 s. */
  timeoutMs?: number;
  /** Redirects followed, at most. Default 5. */
  maxRedirects?: number;
}

/** The defaults of {@link ImageSourceOptions}. */
export const IMAGE_SOURCE_DEFAULTS = {
  network: true,
  files: true,
  maxBytes: 64 * 1024 * 1024,
  connectTimeoutMs: 10_000,
  timeoutMs: 60_000,
  maxRedirects: 5,
} as const satisfies Required<ImageSourceOptions>;

/** A downloaded image: its bytes and the URL they came from (after redirects). */
export interface Downloaded {
  bytes: Uint8Array;
  url: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The formats the addon decodes, so that a CDN that negotiates does not answer with AVIF or JPEG XL. */
const ACCEPT = 'image/jpeg,image/png,image/webp,image/gif,image/bmp,image/tiff,*/*;q=0.5';

/** Content types that are surely not images: an error page, a JSON answer. */
const NOT_IMAGES = /^(text\/|application\/(json|xml|xhtml\+xml|javascript)\b)/i;

/**
 * The bytes at `url`, following redirects by hand so that each hop is checked (scheme, count).
 * @throws BeitError `E_NETWORK` (unreachable, timed out, broken off), `E_NOT_FOUND` (404, 410),
 *   `E_IMAGE` (over `maxBytes`, not an image); `signal.reason` when aborted.
 */
export async function download(
  url: URL,
  options: Required<ImageSourceOptions>,
  signal?: AbortSignal,
): Promise<Downloaded> {
  const controller = new AbortController();
  const abort = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', abort, { once: true });
  const overall = setTimeout(() => {
    controller.abort(
      new BeitError(
        'E_NETWORK',
        `${url.href}: the download took over ${options.timeoutMs} ms: try again, or raise sources.timeoutMs`,
      ),
    );
  }, options.timeoutMs);
  try {
    signal?.throwIfAborted();
    return await follow(url, options, controller.signal);
  } catch (err) {
    // An abort (the caller's, or a timer's) rejects fetch and the body's reads with its reason.
    throw controller.signal.aborted ? controller.signal.reason : err;
  } finally {
    clearTimeout(overall);
    signal?.removeEventListener('abort', abort);
  }
}

async function follow(start: URL, options: Required<ImageSourceOptions>, signal: AbortSignal): Promise<Downloaded> {
  let url = start;
  for (let hop = 0; ; hop++) {
    const response = await answer(url, options, signal);
    if (!REDIRECTS.has(response.status))
      return { bytes: await readResponse(response, url.href, options, signal), url: url.href };
    await response.body?.cancel().catch(() => {});
    const location = response.headers.get('location');
    if (location === null)
      throw new BeitError('E_NETWORK', `${url.href}: redirect ${response.status} without a Location`);
    if (hop >= options.maxRedirects) {
      throw new BeitError(
        'E_NETWORK',
        `${start.href}: more than ${options.maxRedirects} redirects (a loop?): check the URL, or raise sources.maxRedirects`,
      );
    }
    const next = new URL(location, url);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new BeitError(
        'E_NETWORK',
        `${url.href} redirects to ${next.protocol} (${next.href}): only http and https are followed`,
      );
    }
    url = next;
  }
}

/** The server's answer to one request: its status and headers, within `connectTimeoutMs`. */
async function answer(url: URL, options: Required<ImageSourceOptions>, signal: AbortSignal): Promise<Response> {
  const timer = new AbortController();
  const timeout = setTimeout(() => {
    timer.abort(
      new BeitError(
        'E_NETWORK',
        `${url.href}: no answer within ${options.connectTimeoutMs} ms: check the URL and the network, or raise sources.connectTimeoutMs`,
      ),
    );
  }, options.connectTimeoutMs);
  const both = AbortSignal.any([signal, timer.signal]);
  try {
    return await fetch(url, { redirect: 'manual', signal: both, headers: { accept: ACCEPT } });
  } catch (err) {
    if (both.aborted) throw both.reason;
    const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
    throw new BeitError('E_NETWORK', `${url.href}: cannot download: ${cause}: check the URL and the network`, {
      cause: err,
    });
  } finally {
    clearTimeout(timeout);
  }
}

/**
 * The body of `response` (a fetched image), read within `maxBytes`.
 * @throws BeitError `E_NOT_FOUND` / `E_NETWORK` for a status other than 2xx, `E_IMAGE` for a body over
 *   the limit or of a content type that is not an image.
 */
export async function readResponse(
  response: Response,
  name: string,
  options: Pick<Required<ImageSourceOptions>, 'maxBytes'>,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    const code = response.status === 404 || response.status === 410 ? 'E_NOT_FOUND' : 'E_NETWORK';
    throw new BeitError(code, `${name}: the server answered ${response.status} ${response.statusText}`.trimEnd());
  }
  const type = response.headers.get('content-type') ?? '';
  if (NOT_IMAGES.test(type)) {
    await response.body?.cancel().catch(() => {});
    throw new BeitError('E_IMAGE', `${name}: the server sent ${type.split(';')[0]}, not an image: check the URL`);
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > options.maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw tooLarge(name, `declares ${declared} bytes`, options.maxBytes);
  }
  return readBody(response, name, options.maxBytes, signal);
}

function tooLarge(name: string, what: string, maxBytes: number): BeitError {
  return new BeitError(
    'E_IMAGE',
    `${name} ${what}, over the limit of ${maxBytes}: raise sources.maxBytes if you trust it`,
  );
}

/**
 * The body's bytes, chunk by chunk, stopping at `maxBytes` (a declared length may lie or be absent). An
 * abort cancels the read in progress, so a stalled body cannot outlive the signal.
 */
async function readBody(response: Response, name: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
  const reader = response.body?.getReader();
  if (!reader) return new Uint8Array(0);
  const cancel = () => void reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener('abort', cancel, { once: true });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      signal?.throwIfAborted();
      const { done, value } = await reader.read();
      signal?.throwIfAborted();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw tooLarge(name, `sends over ${total} bytes`, maxBytes);
      chunks.push(value);
    }
  } catch (err) {
    await reader.cancel().catch(() => {});
    throw err;
  } finally {
    signal?.removeEventListener('abort', cancel);
  }
  return concat(chunks, total);
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]) return chunks[0];
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
