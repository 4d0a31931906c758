/**
 * `BeitImageProcessor`: HF's image processor, computed natively with Pillow-exact resizing.
 * @module
 */
import { BeitError, callNative, callNativeSync } from './errors.js';
import { type HubOptions, resolveModelDir } from './hub.js';
import type { NativeImageInput, NativeImageProcessor, NativeModel, NativePixels } from './native.js';
import { native } from './native.js';
import { postProcessSemanticSegmentation } from './postprocess.js';
import { Tensor } from './tensor.js';

/** Raw interleaved 8-bit pixels. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** An image: a file path, the bytes of an encoded file (JPEG, PNG, WebP, GIF, BMP, TIFF), or raw pixels. */
export type ImageInput = string | Uint8Array | RawImage;

/** A target size as HF's processors take it. */
export type SizeOption = number | { height: number; width: number } | { shortestEdge: number };

/** The fields of HF's `BeitImageProcessor`, camelCased; omitted ones take HF's defaults. */
export interface BeitImageProcessorOptions {
  doResize?: boolean;
  size?: SizeOption;
  /** PIL filter code: 0 NEAREST, 1 LANCZOS, 2 BILINEAR, 3 BICUBIC, 4 BOX, 5 HAMMING. */
  resample?: 0 | 1 | 2 | 3 | 4 | 5;
  doCenterCrop?: boolean;
  cropSize?: SizeOption;
  doRescale?: boolean;
  rescaleFactor?: number;
  doNormalize?: boolean;
  imageMean?: number | number[];
  imageStd?: number | number[];
  doReduceLabels?: boolean;
  /** Images with more pixels are refused from their header. Default: Pillow's limit, 178,956,970. */
  maxPixels?: number;
}

/** What `preprocess` resolves with. */
export interface ProcessedImages {
  /** float32 `[batch, 3, height, width]`. */
  pixelValues: Tensor;
  /** int32 `[batch, height, width]` class ids, when segmentation maps were given. */
  labels?: Tensor;
  /** `[height, width]` of each image before processing. */
  originalSizes: [number, number][];
}

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function toConfigJson(options: BeitImageProcessorOptions): string {
  const entries = Object.entries(options)
    .filter(([key, value]) => key !== 'maxPixels' && value !== undefined)
    .map(([key, value]) => {
      const isSize = (key === 'size' || key === 'cropSize') && typeof value === 'object';
      const converted = isSize ? Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), v])) : value;
      return [snake(key), converted];
    });
  return JSON.stringify(Object.fromEntries(entries));
}

function toNativeImage(image: ImageInput, index: number): NativeImageInput {
  if (typeof image === 'string') return { path: image };
  if (image instanceof Uint8Array) return { bytes: Buffer.from(image.buffer, image.byteOffset, image.byteLength) };
  if (image && image.data instanceof Uint8Array) {
    const { data, width, height, channels } = image;
    return { data: Buffer.from(data.buffer, data.byteOffset, data.byteLength), width, height, channels };
  }
  throw new BeitError(
    'E_IMAGE',
    `image ${index}: expected a file path, a Buffer/Uint8Array of an encoded image, or { data, width, height, channels }`,
  );
}

/** One image or a list of them, as the addon takes them. */
function toNativeImages(images: ImageInput | ImageInput[]): NativeImageInput[] {
  return (Array.isArray(images) ? images : [images]).map(toNativeImage);
}

/** The addon's `[height, width]` sizes as pairs. */
function toSizes(sizes: number[][]): [number, number][] {
  return sizes.map(([h, w]) => [h ?? 0, w ?? 0]);
}

/** The addon's processor behind a `BeitImageProcessor` (set by the class, which keeps it private). */
let nativeOf: (processor: BeitImageProcessor) => NativeImageProcessor;

/**
 * `images` processed by `processor` where `model` runs (on CUDA by the GPU kernels) and kept there
 * for `model.forwardPrepared`: `classify` and `segment` need not copy the pixels through JS.
 * @internal
 */
export async function prepareImages(
  model: NativeModel,
  processor: BeitImageProcessor,
  images: ImageInput | ImageInput[],
): Promise<{ pixels: NativePixels; originalSizes: [number, number][] }> {
  if (!(processor instanceof BeitImageProcessor)) {
    throw new BeitError(
      'E_INVALID_ARGUMENT',
      'processor must be a BeitImageProcessor (new BeitImageProcessor(options) or BeitImageProcessor.fromPretrained(dir))',
    );
  }
  const list = toNativeImages(images);
  const pixels = await callNative(() => model.prepareImages(nativeOf(processor), list));
  return { pixels, originalSizes: toSizes(pixels.originalSizes) };
}

/**
 * Turns images into model inputs exactly as HF's `BeitImageProcessor` (with Pillow) does.
 *
 * @example
 * ```ts
 * const processor = await BeitImageProcessor.fromPretrained('./beit-base-patch16-224');
 * const { pixelValues } = await processor.preprocess(['cat.jpg', 'dog.png']);
 * pixelValues.dims; // [2, 3, 224, 224]
 * ```
 */
export class BeitImageProcessor {
  #native: NativeImageProcessor;

  static {
    nativeOf = (processor) => processor.#native;
  }

  /** @throws BeitError `E_CONFIG` naming the field when an option is unusable. */
  constructor(options: BeitImageProcessorOptions = {}) {
    this.#native = callNativeSync(() =>
      native.NativeImageProcessor.fromConfigJson(toConfigJson(options), options.maxPixels),
    );
  }

  /** Reads `preprocessor_config.json` from a checkpoint directory or a repo id in the HuggingFace cache. */
  static async fromPretrained(
    nameOrDir: string,
    options: HubOptions & { maxPixels?: number } = {},
  ): Promise<BeitImageProcessor> {
    const dir = await resolveModelDir(nameOrDir, options, 'processor');
    const processor = new BeitImageProcessor();
    processor.#native = callNativeSync(() => native.NativeImageProcessor.fromPretrained(dir, options.maxPixels));
    return processor;
  }

  /** The complete config, HF-style (snake_case keys). */
  get config(): Record<string, unknown> {
    return JSON.parse(this.#native.configJson()) as Record<string, unknown>;
  }

  /**
   * Decodes, resizes, crops and normalizes one image or a batch (in parallel, off the JS thread).
   * The result is always a batch. Segmentation maps (one per image) become int32 `labels`.
   * @throws BeitError `E_IMAGE` naming the image (its index, or its path) and the reason.
   */
  async preprocess(
    images: ImageInput | ImageInput[],
    options: { segmentationMaps?: ImageInput | ImageInput[] } = {},
  ): Promise<ProcessedImages> {
    const maps = options.segmentationMaps;
    const nativeImages = toNativeImages(images);
    const nativeMaps = maps === undefined ? undefined : toNativeImages(maps);
    const out = await callNative(() => this.#native.preprocess(nativeImages, nativeMaps));
    return {
      pixelValues: Tensor.fromNative(out.pixelValues),
      ...(out.labels ? { labels: new Tensor(out.labels.data, out.labels.dims) } : {}),
      originalSizes: toSizes(out.originalSizes),
    };
  }

  /** See {@link postProcessSemanticSegmentation}. */
  postProcessSemanticSegmentation(
    outputs: { logits: Tensor },
    targetSizes?: readonly (readonly [number, number])[],
  ): Promise<Tensor[]> {
    return postProcessSemanticSegmentation(outputs, targetSizes);
  }
}

/** The name older HF code and docs use for {@link BeitImageProcessor}. */
export const BeitFeatureExtractor = BeitImageProcessor;
