// BeitImageProcessor through JS against HF's output (Pillow): from decoded pixels and PNG files
// within 1e-6, from JPEG files within 0.05 (6.4 grey levels: JPEG decoders' IDCTs differ).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BeitError, BeitFeatureExtractor, BeitImageProcessor, type RawImage } from '../ts/index.js';
import { referenceDir } from './helpers/reference.js';
import { readSafetensors, type StoredTensor } from './helpers/safetensors.js';

const imagesDir = join(referenceDir, '../images');

function maxDiff(got: Float32Array, want: StoredTensor, offset = 0): number {
  let worst = 0;
  for (let i = 0; i < want.data.length; i++) {
    worst = Math.max(worst, Math.abs((got[offset + i] as number) - (want.data[i] as number)));
  }
  return worst;
}

const cases = ['cls224_bilinear', 'resize256_crop224_bicubic', 'upscale640_bicubic'];

describe('BeitImageProcessor', () => {
  it.each(cases)('%s matches HF from pixels, PNG and JPEG', async (name) => {
    const dir = join(referenceDir, 'processor', name);
    const images: string[] = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')).images;
    const expected = readSafetensors(join(dir, 'expected.safetensors'));
    const decoded = readSafetensors(join(dir, 'decoded_rgb.safetensors'));
    const processor = await BeitImageProcessor.fromPretrained(dir);
    const fromFiles = await processor.preprocess(images.map((f) => join(imagesDir, f)));
    const plane = fromFiles.pixelValues.size / images.length;
    for (const [i, file] of images.entries()) {
      const want = expected.get(`pixel_values.${i}`);
      const pixels = decoded.get(`decoded.${i}`);
      if (!want || !pixels) throw new Error(`${name}: missing reference ${i}`);
      const [height = 0, width = 0] = pixels.dims;
      const raw: RawImage = { data: pixels.data as Uint8Array, width, height, channels: 3 };
      const fromPixels = await processor.preprocess(raw);
      expect(maxDiff(fromPixels.pixelValues.data as Float32Array, want), `${file} from pixels`).toBeLessThanOrEqual(
        1e-6,
      );
      const tolerance = file.endsWith('.jpg') ? 0.05 : 1e-6;
      const diff = maxDiff(fromFiles.pixelValues.data as Float32Array, want, i * plane);
      expect(diff, `${file} from the file`).toBeLessThanOrEqual(tolerance);
    }
  });

  it('takes Buffers and returns a batch for one image', async () => {
    const processor = new BeitImageProcessor({ size: { height: 32, width: 48 }, doCenterCrop: false });
    const out = await processor.preprocess(readFileSync(join(imagesDir, 'coffee.png')));
    expect(out.pixelValues.dims).toEqual([1, 3, 32, 48]);
    expect(out.originalSizes).toEqual([[400, 600]]);
    expect(out.labels).toBeUndefined();
  });

  it('turns segmentation maps into reduced int32 labels', async () => {
    const processor = new BeitImageProcessor({ size: 4, doCenterCrop: false, doReduceLabels: true });
    const map: RawImage = { data: Uint8Array.from([0, 1, 2, 255]), width: 2, height: 2, channels: 1 };
    const image: RawImage = { data: new Uint8Array(2 * 2 * 3), width: 2, height: 2, channels: 3 };
    const { labels } = await processor.preprocess(image, { segmentationMaps: map });
    expect(labels?.dtype).toBe('int32');
    expect(labels?.dims).toEqual([1, 4, 4]);
    expect(Array.from(labels?.data ?? []).slice(0, 4)).toEqual([255, 255, 0, 0]);
  });

  it('has every HF field with its default, and the legacy alias', () => {
    const processor = new BeitFeatureExtractor();
    expect(processor.config).toMatchObject({
      do_resize: true,
      size: { height: 256, width: 256 },
      resample: 3,
      do_center_crop: true,
      crop_size: { height: 224, width: 224 },
      image_mean: [0.5, 0.5, 0.5],
      do_reduce_labels: false,
    });
    expect(new BeitImageProcessor({ resample: 2 }).config.resample).toBe(2);
  });

  it('rejects bad options naming the field', () => {
    expect(() => new BeitImageProcessor({ resample: 9 as never })).toThrow(/resample is 9/);
    expect(() => new BeitImageProcessor({ imageStd: [0.5, 0, 0.5] })).toThrow(/image_std contains 0/);
    expect(() => new BeitImageProcessor({ size: { height: 0, width: 4 } })).toThrow(/size must be positive/);
  });

  it('names the bad image of a batch and says why', async () => {
    const processor = new BeitImageProcessor();
    const png = readFileSync(join(imagesDir, 'camera.png'));
    const attempts: [unknown[], RegExp, string?][] = [
      [[join(imagesDir, 'chelsea.png'), '/missing/cat.jpg'], /image 1 \(\/missing\/cat.jpg\): the file does not exist/],
      [[png.subarray(0, png.length / 2)], /image 0: cannot decode/],
      [[Buffer.from('hello')], /image 0: not an image in a supported format/],
      [[{ data: new Uint8Array(5), width: 4, height: 4, channels: 3 }], /holds 5 bytes/],
      // Sizes outside 1..2^31 are refused before the addon (which would wrap 2^32 + 10 to 10).
      [
        [{ data: new Uint8Array(0), width: 0, height: 0, channels: 3 }],
        /image 0: width must be an integer from 1/,
        'E_INVALID_ARGUMENT',
      ],
      [[42], /image 0: expected a file path/],
    ];
    for (const [images, message, code = 'E_IMAGE'] of attempts) {
      const err = await processor.preprocess(images as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BeitError);
      expect((err as BeitError).code).toBe(code);
      expect((err as BeitError).message).toMatch(message);
    }
  });

  it('refuses images over the pixel limit before decoding them', async () => {
    const processor = new BeitImageProcessor({ maxPixels: 1000 });
    await expect(processor.preprocess(join(imagesDir, 'camera.png'))).rejects.toThrow(/over the limit of 1000/);
  });

  it('refuses a maxPixels that is not a whole number of pixels', async () => {
    const dir = join(referenceDir, 'processor', 'cls224_bilinear');
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new BeitImageProcessor({ maxPixels: bad })).toThrow(
        expect.objectContaining({ code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/^maxPixels must be/) }),
      );
      await expect(BeitImageProcessor.fromPretrained(dir, { maxPixels: bad })).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
      });
    }
  });
});
