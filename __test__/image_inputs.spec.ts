// Images as Node code holds them (URLs, file: URLs, ArrayBuffers, typed arrays, Blobs, Files, fetch
// Responses, canvas-style ImageData, sharp instances and sharp's output) give exactly what the same
// PNG's bytes give; downloads from a local server that misbehaves fail with a clear error within their
// limits, and can be refused altogether.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BeitError,
  BeitForImageClassification,
  BeitImageProcessor,
  bundledModelDir,
  type ImageInput,
  type ImageSourceOptions,
  pipeline,
} from '../ts/index.js';
import { type ImageServer, startImageServer } from './helpers/image_server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const file = join(root, 'samples/digits/digit-7.png');
const png = readFileSync(file);
const processor = new BeitImageProcessor({ size: { height: 16, width: 16 }, doCenterCrop: false });

let server: ImageServer;
beforeAll(async () => {
  server = await startImageServer(png);
});
afterAll(async () => {
  await server?.close();
});

const url = (path: string) => `${server.origin}${path}`;

/** The pixel values `image` gives, to compare with those of the PNG's bytes. */
async function pixels(image: ImageInput | ImageInput[], sources?: ImageSourceOptions): Promise<Float32Array> {
  const { pixelValues } = await processor.preprocess(image, { sources });
  return pixelValues.data as Float32Array;
}

/** The BeitError `promise` rejects with. */
async function failure(promise: Promise<unknown>): Promise<BeitError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a rejection').toBeInstanceOf(BeitError);
  return err as BeitError;
}

describe('every kind of image gives what its bytes give', () => {
  let expected: Float32Array;
  beforeAll(async () => {
    expected = await pixels(png);
  });

  const copy = () => png.buffer.slice(png.byteOffset, png.byteOffset + png.byteLength) as ArrayBuffer;
  const kinds: [string, () => ImageInput | Promise<ImageInput>][] = [
    ['an http URL string', () => url('/image.png')],
    ['a URL object', () => new URL(url('/image.png'))],
    ['a URL that redirects twice', () => url('/redirect-twice')],
    ['a server that sends no content type', () => url('/no-type')],
    ['a file: URL string', () => pathToFileURL(file).href],
    ['a file: URL object', () => pathToFileURL(file)],
    ['a data: URL', () => `data:image/png;base64,${png.toString('base64')}`],
    ['an ArrayBuffer', copy],
    ['a Uint8Array at an offset in a larger buffer', () => Buffer.concat([Buffer.alloc(7), png]).subarray(7)],
    ['a DataView', () => new DataView(copy())],
    ['a Blob', () => new Blob([png], { type: 'image/png' })],
    ['a File', () => new File([png], 'digit-7.png')],
    ['a Response', () => new Response(png)],
    ['a fetched Response', () => fetch(url('/image.png'))],
    ['a sharp instance', () => sharp(file)],
    ['sharp raw { data, info }', () => sharp(file).raw().toBuffer({ resolveWithObject: true })],
    ['sharp encoded { data, info }', () => sharp(png).png().toBuffer({ resolveWithObject: true })],
    [
      'RGBA ImageData without channels',
      async () => {
        const { data, info } = await sharp(file).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
        return { data: new Uint8ClampedArray(data), width: info.width, height: info.height };
      },
    ],
  ];

  it.each(kinds)('%s', async (_name, make) => {
    expect(await pixels(await make())).toEqual(expected);
  });

  it('a batch mixing kinds, in order', async () => {
    const got = await pixels([url('/image.png'), new Blob([png]), png]);
    expect(got).toEqual(new Float32Array([...expected, ...expected, ...expected]));
  });

  it('a sharp instance with operations chained, as sharp computes them', async () => {
    const resized = sharp(file).resize(20, 12, { fit: 'fill' }).greyscale();
    const raw = await resized.clone().raw().toBuffer({ resolveWithObject: true });
    const direct = { data: raw.data, width: 20, height: 12, channels: 1 as const };
    expect(raw.info.channels).toBe(1);
    expect(await pixels(resized)).toEqual(await pixels(direct));
    // The caller's instance keeps its own output: still a PNG when asked for one.
    const out = await resized.png().toBuffer({ resolveWithObject: true });
    expect(out.info.format).toBe('png');
  });

  it("sharp's grey with alpha keeps the grey (as Pillow converts LA to RGB)", async () => {
    const grey = await sharp(file).greyscale().raw().toBuffer({ resolveWithObject: true });
    const withAlpha = Buffer.alloc(32 * 32 * 2, 128);
    for (const [i, v] of grey.data.entries()) withAlpha[2 * i] = v;
    const la = { data: withAlpha, info: { format: 'raw', width: 32, height: 32, channels: 2 } };
    const expected = await pixels({ data: grey.data, width: 32, height: 32, channels: 1 });
    expect(await pixels(la)).toEqual(expected);
  });
});

describe('classify, segment-style calls and pipelines take them too', () => {
  it('classify and pipeline give the same scores for a URL, a Blob and a sharp image as for the path', async () => {
    const model = await BeitForImageClassification.fromPretrained(bundledModelDir('beit-digits'));
    try {
      const [fromPath] = await model.classify(file, { topK: 3 });
      const fromOthers = await model.classify([url('/image.png'), new Blob([png]), sharp(file)], { topK: 3 });
      for (const labels of fromOthers) expect(labels).toEqual(fromPath);
      const classifier = await pipeline('image-classification', model);
      expect(await classifier(new URL(url('/redirect')), { topK: 3 })).toEqual(fromPath);
      for (const topK of [2 ** 32 + 10, 0, -1, 1.5, Number.NaN]) {
        await expect(model.classify(file, { topK })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
      }
    } finally {
      await model.dispose();
    }
  });
});

describe('downloads are bounded', () => {
  it('a missing image is E_NOT_FOUND naming the URL', async () => {
    const err = await failure(pixels(url('/missing')));
    expect(err.code).toBe('E_NOT_FOUND');
    expect(err.message).toMatch(/^image 0: http:\/\/127\.0\.0\.1:\d+\/missing: the server answered 404/);
  });

  it('a server error is E_NETWORK', async () => {
    expect((await failure(pixels(url('/error')))).code).toBe('E_NETWORK');
  });

  it('an HTML page is E_IMAGE, refused from its content type', async () => {
    const err = await failure(pixels(url('/page.html')));
    expect(err.code).toBe('E_IMAGE');
    expect(err.message).toMatch(/sent text\/html, not an image/);
  });

  it('bytes that are not an image are E_IMAGE naming the URL', async () => {
    const err = await failure(pixels([png, url('/garbage')]));
    expect(err.code).toBe('E_IMAGE');
    expect(err.message).toContain(`image 1 (${url('/garbage')})`);
  });

  it('a declared 10 GB is refused from the header', async () => {
    const err = await failure(pixels(url('/huge-declared')));
    expect(err.code).toBe('E_IMAGE');
    expect(err.message).toMatch(/declares 10737418240 bytes, over the limit of 67108864/);
  });

  it('an endless body is cut at maxBytes', async () => {
    const err = await failure(pixels(url('/huge-streamed'), { maxBytes: 4 * 1024 * 1024 }));
    expect(err.code).toBe('E_IMAGE');
    expect(err.message).toMatch(/over the limit of 4194304: raise sources\.maxBytes/);
  });

  it('a redirect loop stops at maxRedirects', async () => {
    const before = server.hits.get('/loop') ?? 0;
    const err = await failure(pixels(url('/loop'), { maxRedirects: 3 }));
    expect(err.code).toBe('E_NETWORK');
    expect(err.message).toMatch(/more than 3 redirects/);
    expect((server.hits.get('/loop') ?? 0) - before).toBe(4);
  });

  it.each(['/to-ftp', '/to-file'])('a redirect to another scheme (%s) is refused', async (path) => {
    const err = await failure(pixels(url(path)));
    expect(err.code).toBe('E_NETWORK');
    expect(err.message).toMatch(/redirects to (ftp|file): .* only http and https are followed/);
  });

  it('a server that never answers times out', async () => {
    const started = Date.now();
    const err = await failure(pixels(url('/silent'), { connectTimeoutMs: 300 }));
    expect(err.code).toBe('E_NETWORK');
    expect(err.message).toMatch(/no answer within 300 ms/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a transfer that crawls times out as a whole', async () => {
    const err = await failure(pixels(url('/trickle'), { timeoutMs: 1500 }));
    expect(err.code).toBe('E_NETWORK');
    expect(err.message).toMatch(/the download took over 1500 ms/);
  });

  it('a refused port is E_NETWORK', async () => {
    const err = await failure(pixels('http://127.0.0.1:9/image.png'));
    expect(err.code).toBe('E_NETWORK');
    expect(err.message).toMatch(/127\.0\.0\.1:9\/image\.png: cannot download/);
  });

  it('an AbortSignal stops a download with its reason', async () => {
    const controller = new AbortController();
    const reason = new Error('the user left');
    setTimeout(() => controller.abort(reason), 200);
    const pending = processor.preprocess(url('/trickle'), { signal: controller.signal });
    await expect(pending).rejects.toBe(reason);
  });

  it('network: false refuses URLs without asking the server', async () => {
    const before = server.hits.get('/image.png') ?? 0;
    const err = await failure(pixels(url('/image.png'), { network: false }));
    expect(err.code).toBe('E_INVALID_ARGUMENT');
    expect(err.message).toMatch(/network URLs are refused here/);
    expect(server.hits.get('/image.png') ?? 0).toBe(before);
    // Bytes are still taken.
    expect(await pixels(png, { network: false })).toEqual(await pixels(png));
  });

  it('files: false refuses paths and file: URLs', async () => {
    for (const image of [file, pathToFileURL(file)]) {
      const err = await failure(pixels(image, { files: false }));
      expect(err.code).toBe('E_INVALID_ARGUMENT');
      expect(err.message).toMatch(/file paths are refused here/);
    }
  });

  it('a Blob over maxBytes is refused before it is read', async () => {
    const err = await failure(pixels(new Blob([png]), { maxBytes: 100 }));
    expect(err.code).toBe('E_IMAGE');
    expect(err.message).toMatch(/a Blob holds \d+ bytes, over the limit of 100/);
  });
});

describe('what is not an image', () => {
  it('an object of no known kind names the kinds taken', async () => {
    const err = await failure(pixels({ nope: true } as unknown as ImageInput));
    expect(err.code).toBe('E_IMAGE');
    expect(err.message).toMatch(/^image 0: expected a file path, an http\(s\), file or data URL/);
  });

  it('an unknown URL scheme is refused', async () => {
    const err = await failure(pixels('ftp://127.0.0.1/image.png'));
    expect(err.code).toBe('E_INVALID_ARGUMENT');
    expect(err.message).toMatch(/ftp: URLs are not taken/);
  });

  it("sharp's failure is wrapped with the image's index", async () => {
    const err = await failure(pixels([png, sharp(Buffer.from('not an image at all'))]));
    expect(err.code).toBe('E_IMAGE');
    expect(err.message).toMatch(/^image 1 \(sharp\): /);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('a Response already read is refused', async () => {
    const response = new Response(png);
    await response.arrayBuffer();
    expect((await failure(pixels(response))).code).toBe('E_INVALID_ARGUMENT');
  });

  it('unusable sources options are refused', async () => {
    for (const sources of [
      { maxBytes: 0 },
      { timeoutMs: 2 ** 31 },
      { connectTimeoutMs: Number.NaN },
      { maxRedirects: -1 },
    ]) {
      const err = await failure(pixels(png, sources));
      expect(err.code).toBe('E_INVALID_ARGUMENT');
      expect(err.message).toMatch(/^sources\.\w+ must be an integer/);
    }
  });

  it('raw sizes outside 1..2^31 are refused before the addon', async () => {
    const data = new Uint8Array(3 * 10);
    for (const width of [2 ** 32 + 10, 0, -1, 1.5, Number.NaN]) {
      const err = await failure(pixels({ data, width, height: 1, channels: 3 }));
      expect(err.code).toBe('E_INVALID_ARGUMENT');
      expect(err.message).toMatch(/width must be an integer from 1 to 2147483648/);
    }
  });
});
