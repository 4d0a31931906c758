/**
 * `BeitImageProcessor`: HF's image processor, computed natively with Pillow-exact resizing.
 * @module
 */
import { BeitError, callNative, callNativeSync } from './errors.js';
import { type HubOptions, resolveModelDir } from './hub.js';
import type { ImageSourceOptions } from './image_download.js';
import { type ImageInput, type ResolvedImage, type ResolveOptions, resolveImages } from './image_input.js';
import type { NativeImageInput, NativeImageProcessor, NativeModel, NativePixels } from './native.js';
import { native } from './native.js';
import { postProcessSemanticSegmentation } from './postprocess.js';
import { checkMaxPixels } from './sizes.js';
import { Tensor } from './tensor.js';

export type { ImageDataLike, ImageInput, RawImage } from './image_input.js';

/** Where the images of one call may come from, and its `AbortSignal`. */
export interface ImageOptions {
  /** Which kinds of source are taken (network URLs, files) and the bounds of downloads. */
  sources?: ImageSourceOptions;
  /** Aborts the call: downloads stop, and the call rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/** A target size as HF's processors take it. */
export type SizeOption =
  | number
  | {
      /** Rows. */
      height: number;
      /** Columns. */
      width: number;
    }
  | {
      /** The shorter side's length; the other keeps the aspect ratio. */
      shortestEdge: number;
    };

/** The fields of HF's `BeitImageProcessor`, camelCased; omitted ones take HF's defaults. */
export interface BeitImageProcessorOptions {
  /** Resize to `size` first. Default true. */
  doResize?: boolean;
  /** The size to resize to. Default `{ height: 256, width: 256 }`. */
  size?: SizeOption;
  /** PIL filter code: 0 NEAREST, 1 LANCZOS, 2 BILINEAR, 3 BICUBIC, 4 BOX, 5 HAMMING. */
  resample?: 0 | 1 | 2 | 3 | 4 | 5;
  /** Crop the centre to `cropSize` after resizing. Default true. */
  doCenterCrop?: boolean;
  /** The centre crop's size. Default `{ height: 224, width: 224 }`. */
  cropSize?: SizeOption;
  /** Multiply the 0-255 values by `rescaleFactor`. Default true. */
  doRescale?: boolean;
  /** Default 1/255. */
  rescaleFactor?: number;
  /** Subtract `imageMean` and divide by `imageStd`, per channel. Default true. */
  doNormalize?: boolean;
  /** One value, or one per channel. Default 0.5. */
  imageMean?: number | number[];
  /** One value, or one per channel. Default 0.5. */
  imageStd?: number | number[];
  /** Segmentation maps: 0 (background) becomes 255 (ignored) and every other id one less. Default false. */
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

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function toNativeImage(image: ResolvedImage): NativeImageInput {
  if ('path' in image) return { path: image.path };
  if ('bytes' in image) return { bytes: asBuffer(image.bytes), name: image.name };
  const { data, width, height, channels } = image;
  return { data: asBuffer(data), width, height, channels };
}

/** One image or a list of them, resolved (downloaded, read) and as the addon takes them. */
async function toNativeImages(images: ImageInput | ImageInput[], options: ResolveOptions): Promise<NativeImageInput[]> {
  return (await resolveImages(images, options)).map(toNativeImage);
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
  options: ResolveOptions,
): Promise<{ pixels: NativePixels; originalSizes: [number, number][] }> {
  if (!(processor instanceof BeitImageProcessor)) {
    throw new BeitError(
      'E_INVALID_ARGUMENT',
      'processor must be a BeitImageProcessor (new BeitImageProcessor(options) or BeitImageProcessor.fromPretrained(dir))',
    );
  }
  const list = await toNativeImages(images, options);
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
    checkMaxPixels(options.maxPixels);
    this.#native = callNativeSync(() =>
      native.NativeImageProcessor.fromConfigJson(toConfigJson(options), options.maxPixels),
    );
  }

  /** Reads `preprocessor_config.json` from a checkpoint directory or a repo id in the HuggingFace cache. */
  static async fromPretrained(
    nameOrDir: string,
    options: HubOptions & { maxPixels?: number } = {},
  ): Promise<BeitImageProcessor> {
    checkMaxPixels(options.maxPixels);
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
   * The result is always a batch. Segmentation maps (one per image) become int32 `labels`. Images
   * may be any {@link ImageInput}: URLs are downloaded first, within `options.sources`' bounds.
   *
   * @example
   * ```ts
   * const { pixelValues } = await processor.preprocess(['cat.jpg', 'https://example.com/dog.png']);
   * ```
   * @throws BeitError `E_IMAGE` naming the image (its index, and its path or URL) and the reason;
   *   `E_NETWORK` / `E_NOT_FOUND` for a download; `E_INVALID_ARGUMENT` for an input of no known kind
   *   or one `sources` refuses; `options.signal.reason` when aborted.
   */
  async preprocess(
    images: ImageInput | ImageInput[],
    options: { segmentationMaps?: ImageInput | ImageInput[] } & ImageOptions = {},
  ): Promise<ProcessedImages> {
    const maps = options.segmentationMaps;
    const [nativeImages, nativeMaps] = await Promise.all([
      toNativeImages(images, options),
      maps === undefined ? undefined : toNativeImages(maps, options),
    ]);
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
