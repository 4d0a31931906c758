/**
 * `ImageInput`: every form in which a Node user holds an image, and its resolution into one of the three
 * forms the addon decodes (a file path, the bytes of an encoded file, raw pixels). URLs are downloaded,
 * `Blob`s and `Response`s read, and sharp images decoded by sharp, all in memory and within the limits
 * of {@link ImageSourceOptions}.
 * @module
 */
import { fileURLToPath } from 'node:url';
import { BeitError } from './errors.js';
import { download, IMAGE_SOURCE_DEFAULTS, type ImageSourceOptions, readResponse } from './image_download.js';
import {
  isSharpInstance,
  isSharpOutput,
  rawPixels,
  type SharpInstance,
  type SharpOutput,
  sharpInstancePixels,
} from './sharp_image.js';
import { checkSize } from './sizes.js';

/** Raw interleaved 8-bit pixels: grey, RGB or RGBA, `height x width x channels` bytes. */
export interface RawImage {
  /** The pixels, row by row, channels interleaved. */
  data: Uint8Array;
  /** Pixels per row. */
  width: number;
  /** Rows. */
  height: number;
  /** 1 grey, 3 RGB, 4 RGBA (the alpha is dropped, as Pillow's `convert('RGB')` does). */
  channels: 1 | 3 | 4;
}

/**
 * Raw pixels whose channel count their length tells: a canvas `ImageData` (RGBA, in a
 * `Uint8ClampedArray`) is taken as it is.
 */
export interface ImageDataLike {
  /** The pixels, row by row, channels interleaved. */
  data: Uint8Array | Uint8ClampedArray;
  /** Pixels per row. */
  width: number;
  /** Rows. */
  height: number;
  /** 1, 3 or 4; when left out, `data.length / (width * height)`. */
  channels?: 1 | 3 | 4;
}

/**
 * An image, as Node code holds one:
 * - a file path, or a URL as a string or `URL`: `http:` / `https:` (downloaded), `file:`, `data:`;
 * - the bytes of an encoded file (JPEG, PNG, WebP, GIF, BMP, TIFF): a `Buffer`, any typed array or
 *   `DataView`, an `ArrayBuffer`, a `Blob` or `File`, a fetch `Response`;
 * - decoded pixels: a {@link RawImage} or {@link ImageDataLike}, a sharp instance (its operations
 *   applied), or sharp's `{ data, info }` output.
 */
export type ImageInput =
  | string
  | URL
  | ArrayBuffer
  | ArrayBufferView
  | Blob
  | Response
  | RawImage
  | ImageDataLike
  | SharpInstance
  | SharpOutput;

/** An image in a form the addon decodes. @internal */
export type ResolvedImage =
  | { path: string }
  | { bytes: Uint8Array; name?: string }
  | { data: Uint8Array; width: number; height: number; channels: 1 | 3 | 4 };

/** How images are resolved: where they may come from, and the call's `AbortSignal`. */
export interface ResolveOptions {
  sources?: ImageSourceOptions | undefined;
  signal?: AbortSignal | undefined;
}

/** A URL scheme at the start of a string (two letters or more, so `C:\cat.jpg` stays a path). */
const SCHEME = /^([a-z][a-z0-9+.-]+):/i;

const KINDS =
  'a file path, an http(s), file or data URL, a Buffer/typed array/ArrayBuffer/Blob/Response of an encoded image, ' +
  '{ data, width, height, channels }, a sharp instance, or sharp { data, info }';

/**
 * One image or a list of them, resolved (downloads and reads run concurrently).
 * @throws BeitError naming the image's index: `E_IMAGE` (a kind that is not taken), `E_INVALID_ARGUMENT`
 *   (a source `sources` refuses, a size outside 1..2^31), `E_NETWORK` / `E_NOT_FOUND` / `E_IMAGE` for downloads; `signal.reason` when aborted.
 * @internal
 */
export async function resolveImages(
  images: ImageInput | ImageInput[],
  options: ResolveOptions = {},
): Promise<ResolvedImage[]> {
  options.signal?.throwIfAborted();
  const limits = { ...IMAGE_SOURCE_DEFAULTS, ...definedOnly(options.sources) };
  checkSize('sources.maxBytes', limits.maxBytes);
  checkSize('sources.maxRedirects', limits.maxRedirects, 0);
  // Timers take at most 2^31 - 1 ms (Node turns more into 1 ms).
  checkSize('sources.connectTimeoutMs', limits.connectTimeoutMs, 1, 2 ** 31 - 1);
  checkSize('sources.timeoutMs', limits.timeoutMs, 1, 2 ** 31 - 1);
  const list = Array.isArray(images) ? images : [images];
  return Promise.all(list.map((image, i) => resolveOne(image, i, limits, options.signal)));
}

function definedOnly(options: ImageSourceOptions | undefined): ImageSourceOptions {
  return Object.fromEntries(Object.entries(options ?? {}).filter(([, v]) => v !== undefined));
}

type Limits = Required<ImageSourceOptions>;

async function resolveOne(
  image: ImageInput,
  index: number,
  limits: Limits,
  signal?: AbortSignal,
): Promise<ResolvedImage> {
  try {
    return await resolve(image, limits, signal);
  } catch (err) {
    if (signal?.aborted && err === signal.reason) throw err;
    if (err instanceof BeitError) throw new BeitError(err.code, `image ${index}: ${err.message}`, { cause: err });
    // What sharp (or another library handed to us) threw.
    const message = err instanceof Error ? err.message : String(err);
    throw new BeitError('E_IMAGE', `image ${index} (sharp): ${message}`, { cause: err });
  }
}

async function resolve(image: ImageInput, limits: Limits, signal?: AbortSignal): Promise<ResolvedImage> {
  if (typeof image === 'string') return fromString(image, limits, signal);
  if (image instanceof URL) return fromUrl(image, limits, signal);
  if (isArrayBuffer(image)) return { bytes: new Uint8Array(image) };
  if (ArrayBuffer.isView(image)) return { bytes: new Uint8Array(image.buffer, image.byteOffset, image.byteLength) };
  if (typeof Blob !== 'undefined' && image instanceof Blob) return fromBlob(image, limits);
  if (typeof Response !== 'undefined' && image instanceof Response) return fromResponse(image, limits, signal);
  if (isSharpInstance(image)) return sharpInstancePixels(image);
  if (isSharpOutput(image)) return fromSharpOutput(image);
  if (isRawImage(image)) return fromRaw(image);
  throw new BeitError('E_IMAGE', `expected ${KINDS}; got ${describe(image)}`);
}

/** `ArrayBuffer` or `SharedArrayBuffer`, from any realm. */
function isArrayBuffer(value: unknown): value is ArrayBufferLike {
  const tag = Object.prototype.toString.call(value);
  return tag === '[object ArrayBuffer]' || tag === '[object SharedArrayBuffer]';
}

function describe(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(value);
  return value.constructor?.name ? `a ${value.constructor.name}` : 'an object';
}

function fromString(text: string, limits: Limits, signal?: AbortSignal): Promise<ResolvedImage> | ResolvedImage {
  const scheme = SCHEME.exec(text)?.[1]?.toLowerCase();
  const isUrl = scheme && (['http', 'https', 'file', 'data'].includes(scheme) || text.startsWith(`${scheme}://`));
  if (!isUrl) return fromPath(text, limits);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BeitError('E_INVALID_ARGUMENT', `${JSON.stringify(text.slice(0, 200))} is not a valid URL`);
  }
  return fromUrl(url, limits, signal);
}

function fromPath(path: string, limits: Limits): ResolvedImage {
  if (!limits.files) {
    throw new BeitError('E_INVALID_ARGUMENT', `${path}: file paths are refused here (sources.files is false)`);
  }
  return { path };
}

async function fromUrl(url: URL, limits: Limits, signal?: AbortSignal): Promise<ResolvedImage> {
  switch (url.protocol) {
    case 'http:':
    case 'https:': {
      if (!limits.network) {
        throw new BeitError(
          'E_INVALID_ARGUMENT',
          `${url.href}: network URLs are refused here (sources.network is false): pass the image's bytes instead`,
        );
      }
      const { bytes, url: from } = await download(url, limits, signal);
      return { bytes, name: from };
    }
    case 'file:':
      return fromPath(filePath(url), limits);
    case 'data:': {
      // fetch decodes data: URLs (base64 or percent-encoded) everywhere Node, Bun and Deno run.
      const response = await fetch(url);
      return { bytes: await readResponse(response, 'the data: URL', limits, signal), name: 'a data: URL' };
    }
    default:
      throw new BeitError(
        'E_INVALID_ARGUMENT',
        `${url.href}: ${url.protocol} URLs are not taken: use http, https, file or data, or pass the bytes`,
      );
  }
}

function filePath(url: URL): string {
  try {
    return fileURLToPath(url);
  } catch (err) {
    throw new BeitError('E_INVALID_ARGUMENT', `${url.href}: ${(err as Error).message}`, { cause: err });
  }
}

async function fromBlob(blob: Blob, limits: Limits): Promise<ResolvedImage> {
  const name =
    typeof (blob as File).name === 'string' && (blob as File).name ? `File ${(blob as File).name}` : 'a Blob';
  if (blob.size > limits.maxBytes) {
    throw new BeitError(
      'E_IMAGE',
      `${name} holds ${blob.size} bytes, over the limit of ${limits.maxBytes}: raise sources.maxBytes if you trust it`,
    );
  }
  return { bytes: new Uint8Array(await blob.arrayBuffer()), name };
}

async function fromResponse(response: Response, limits: Limits, signal?: AbortSignal): Promise<ResolvedImage> {
  const name = response.url || 'the Response';
  if (response.bodyUsed) {
    throw new BeitError('E_INVALID_ARGUMENT', `${name}: the Response's body was already read: pass a fresh one`);
  }
  return { bytes: await readResponse(response, name, limits, signal), name };
}

function fromSharpOutput(output: SharpOutput): ResolvedImage {
  if (output.info.format !== undefined && output.info.format !== 'raw') {
    // Encoded output (sharp's toBuffer without .raw()): the addon decodes it like any file.
    return { bytes: new Uint8Array(output.data.buffer, output.data.byteOffset, output.data.byteLength) };
  }
  checkGeometry(output.info);
  return rawPixels(output);
}

function isRawImage(value: unknown): value is ImageDataLike {
  const v = value as Partial<ImageDataLike> | null;
  return typeof v === 'object' && v !== null && (v.data instanceof Uint8Array || v.data instanceof Uint8ClampedArray);
}

function checkGeometry({ width, height }: { width: unknown; height: unknown }): void {
  checkSize('width', width);
  checkSize('height', height);
}

function fromRaw({ data, width, height, channels }: ImageDataLike): ResolvedImage {
  checkGeometry({ width, height });
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const inferred = channels ?? data.byteLength / (width * height);
  if (inferred !== 1 && inferred !== 3 && inferred !== 4) {
    throw new BeitError(
      'E_IMAGE',
      `raw pixels of ${width}x${height} with ${data.byteLength} bytes: give channels (1, 3 or 4) and data of width x height x channels bytes`,
    );
  }
  return { data: bytes, width, height, channels: inferred };
}
