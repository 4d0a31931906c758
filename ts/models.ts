/**
 * The model classes of HF's modeling_beit.py, with HF's `fromPretrained`,
 * `forward` and outputs. Each call runs in the addon off the JS thread.
 * @module
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { abortable } from './abortable.js';
import { BeitConfig } from './config.js';
import { canonicalDevice, checkCudaDevice, resolveDevice } from './cuda.js';
import { BeitError, callNative, callNativeSync } from './errors.js';
import { resolveModelDir } from './hub.js';
import type { NativeForwardInputs, NativeForwardOutput, NativeModel, NativeTensor } from './native.js';
import { native } from './native.js';
import type { LoadOptions } from './options.js';
import type {
  BackboneOutput,
  BeitModelOutputWithPooling,
  Data2VecVisionModelOutput,
  DepthEstimatorOutput,
  ForwardInputs,
  ImageClassifierOutput,
  MaskedLMOutput,
  SemanticSegmenterOutput,
} from './outputs.js';
import { type DepthResult, postProcessDepthEstimation, postProcessSemanticSegmentation } from './postprocess.js';
import { BeitImageProcessor, type ImageInput, type ImageOptions, prepareImages } from './processor.js';
import { checkBatching, checkThreads, checkTopK } from './sizes.js';
import { Tensor, type TensorDataType } from './tensor.js';

/** A model class, as the static factories `fromPretrained` and `fromConfig` see it. */
export interface ModelClass<M> {
  /** @internal The factories construct it; users call them. */
  new (handle: NativeModel, config: BeitConfig, processor?: BeitImageProcessor, device?: string): M;
  /** The HF class name the addon builds, e.g. `'BeitForImageClassification'`. */
  readonly architecture: string;
}

/** One class of an image and its probability: HF's `{ label, score }`. */
export interface ClassificationResult {
  /** The class's name from the config's `id2label` (`LABEL_<id>` where it has none). */
  label: string;
  /** Its softmax probability, from 0 to 1. */
  score: number;
}

/** What a model's request queue holds now and has run so far. */
export interface QueueStats {
  /** Requests waiting for a forward pass now. */
  waiting: number;
  /** Forward passes run so far. */
  batches: number;
  /** Requests answered so far (a batch answers several). */
  requests: number;
}

/** The checkpoint's own image processor, when it ships a `preprocessor_config.json`. */
async function processorOf(dir: string): Promise<BeitImageProcessor | undefined> {
  return existsSync(join(dir, 'preprocessor_config.json')) ? BeitImageProcessor.fromPretrained(dir) : undefined;
}

function checkInput(name: string, t: Tensor | undefined, allowed: TensorDataType[]): void {
  if (t === undefined) return;
  if (!(t instanceof Tensor)) {
    throw new BeitError('E_SHAPE', `${name} must be a Tensor`);
  }
  if (!allowed.includes(t.dtype)) {
    throw new BeitError('E_SHAPE', `${name} must be ${allowed.join(' or ')}, got ${t.dtype}`);
  }
}

function toNativeInputs(inputs: ForwardInputs): NativeForwardInputs {
  if (inputs?.pixelValues === undefined) {
    throw new BeitError('E_SHAPE', 'forward() needs { pixelValues: Tensor }');
  }
  checkInput('pixelValues', inputs.pixelValues, ['float32']);
  checkInput('boolMaskedPos', inputs.boolMaskedPos, ['uint8']);
  checkInput('labels', inputs.labels, ['int32', 'float32']);
  return {
    pixelValues: inputs.pixelValues.toNative(),
    boolMaskedPos: inputs.boolMaskedPos?.toNative(),
    labels: inputs.labels?.toNative(),
    interpolatePosEncoding: inputs.interpolatePosEncoding,
    outputHiddenStates: inputs.outputHiddenStates,
    outputAttentions: inputs.outputAttentions,
  };
}

/** What the addon's loaders take of `LoadOptions`, the device resolved. */
function toNative(device: string | undefined, { dtype, batching, threads }: LoadOptions) {
  return { device, dtype, batching, threads };
}

const wrap = (t: NativeTensor | undefined): Tensor | undefined => (t ? Tensor.fromNative(t) : undefined);
const wrapList = (ts: NativeTensor[] | undefined): Tensor[] | undefined => ts?.map(Tensor.fromNative);

/** Every field the addon returned, as Tensors; fields it did not return are left out. */
function fromNativeOutput(out: NativeForwardOutput): Record<string, Tensor | Tensor[]> {
  const fields = {
    loss: wrap(out.loss),
    logits: wrap(out.logits),
    lastHiddenState: wrap(out.lastHiddenState),
    poolerOutput: wrap(out.poolerOutput),
    hiddenStates: wrapList(out.hiddenStates),
    attentions: wrapList(out.attentions),
    featureMaps: wrapList(out.featureMaps),
    predictedDepth: wrap(out.predictedDepth),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<
    string,
    Tensor | Tensor[]
  >;
}

/** Options of one call. */
export interface RunOptions {
  /** Aborts the call: it leaves the queue if it has not started, and rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/** Names each queued request, so that an abort can withdraw it. */
let nextRequestId = 0;

/**
 * What every BEiT model class shares (HF `BeitPreTrainedModel`).
 * @typeParam Output - the output type of `forward`.
 */
export abstract class BeitPreTrainedModel<Output> {
  /** The configuration the model was built from. */
  readonly config: BeitConfig;
  /** The checkpoint's image processor (from its `preprocessor_config.json`), if it has one. */
  readonly processor: BeitImageProcessor | undefined;
  /** Where the model runs: `'cpu'` or `'cuda:N'` (what `device: 'auto'` chose, too). */
  readonly device: string;
  readonly #handle: NativeModel;

  /** @internal Use `fromPretrained` or `fromConfig`. */
  constructor(handle: NativeModel, config: BeitConfig, processor?: BeitImageProcessor, device?: string) {
    this.#handle = handle;
    this.config = config;
    this.processor = processor;
    this.device = canonicalDevice(device);
  }

  /** The processor to use for raw images: the one given, else the checkpoint's. */
  protected imageProcessor(given?: BeitImageProcessor): BeitImageProcessor {
    const processor = given ?? this.processor;
    if (!processor) {
      throw new BeitError(
        'E_CONFIG',
        'this model has no image processor (its directory has no preprocessor_config.json): pass { processor }',
      );
    }
    return processor;
  }

  /**
   * Loads a checkpoint directory in the HF hub layout (config.json + model.safetensors, sharded
   * safetensors, pytorch_model.bin, or flax_model.msgpack where it has nothing else), or a repo id from
   * the HuggingFace cache, downloading it first if needed (see `HubOptions`: revision, token, offline mode, progress).
   * @throws BeitError `E_CONFIG`, `E_WEIGHTS` (a missing or mis-shaped tensor is named), the hub's
   *   `E_NOT_FOUND` / `E_NETWORK` / `E_HUB` / `E_CACHE`, `E_CUDA_UNAVAILABLE` (a CUDA device without
   *   the CUDA build, a driver or that GPU: the message says what to do), ...
   */
  static async fromPretrained<M>(this: ModelClass<M>, nameOrDir: string, options: LoadOptions = {}): Promise<M> {
    // Before any download: a model fetched for a GPU this binary cannot use is wasted.
    const device = resolveDevice(options.device);
    checkCudaDevice(device);
    checkBatching(options.batching);
    checkThreads(options.threads);
    const dir = await resolveModelDir(nameOrDir, options, 'model');
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass the factory was called on.
    const handle = await callNative(() => native.loadModel(this.architecture, dir, toNative(device, options)));
    return new this(handle, BeitConfig.fromJSON(handle.configJson()), await processorOf(dir), device);
  }

  /** Builds the model with random weights, initialised as HF initialises a new model. */
  static async fromConfig<M>(this: ModelClass<M>, config: BeitConfig, options: LoadOptions = {}): Promise<M> {
    const device = resolveDevice(options.device);
    checkCudaDevice(device);
    checkBatching(options.batching);
    checkThreads(options.threads);
    const json = JSON.stringify(config.toJSON());
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass the factory was called on.
    const handle = await callNative(() => native.modelFromConfig(this.architecture, json, toNative(device, options)));
    return new this(handle, BeitConfig.fromJSON(handle.configJson()), undefined, device);
  }

  /**
   * Runs the model. Resolves with the outputs of HF's corresponding output class. Concurrent calls
   * share forward passes on the model's inference thread (see `LoadOptions.batching`); each gets
   * exactly the numbers it would get alone.
   * @throws BeitError `E_SHAPE` when an input has the wrong dims or dtype, `E_OVERLOADED` when the
   *   model's queue is full; `options.signal.reason` when aborted.
   */
  async forward(inputs: ForwardInputs, options: RunOptions = {}): Promise<Output> {
    options.signal?.throwIfAborted();
    const nativeInputs = callNativeSync(() => toNativeInputs(inputs));
    return this.#queued((id) => this.#handle.forward(id, nativeInputs), options);
  }

  /**
   * `forward` of raw images, processed where the model runs (on CUDA by the GPU kernels) without
   * the pixels passing through JS; with each image's size as decoded.
   */
  protected async forwardImages(
    images: ImageInput | ImageInput[],
    options: { processor?: BeitImageProcessor } & ImageOptions,
  ): Promise<{ output: Output; originalSizes: [number, number][] }> {
    options.signal?.throwIfAborted();
    const processor = this.imageProcessor(options.processor);
    const { pixels, originalSizes } = await prepareImages(this.#handle, processor, images, options);
    if (options.signal?.aborted) {
      pixels.release();
      throw options.signal.reason;
    }
    const output = await this.#queued((id) => this.#handle.forwardPrepared(id, pixels), options);
    return { output, originalSizes };
  }

  /** Queues one request (`start` given its id), withdrawn from the queue if `signal` aborts first. */
  async #queued(start: (id: number) => Promise<NativeForwardOutput>, { signal }: RunOptions): Promise<Output> {
    const id = nextRequestId++;
    const pending = callNative(() => start(id));
    const out = await (signal ? abortable(pending, signal, () => this.#handle.cancel(id)) : pending);
    return fromNativeOutput(out) as Output;
  }

  /** The model's request queue: requests waiting now, and forward passes and requests run so far. */
  get queue(): QueueStats {
    return this.#handle.queueStats;
  }

  /** Frees the model's native memory now. Later calls fail with `E_INVALID_ARGUMENT`. */
  async dispose(): Promise<void> {
    this.#handle.dispose();
  }

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.#handle.disposed;
  }

  /** `using model = await BeitModel.fromPretrained(dir)` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.#handle.dispose();
  }
}

/**
 * The bare BEiT encoder (HF `BeitModel`): hidden states and the pooled output.
 *
 * @example
 * ```ts
 * const model = await BeitModel.fromPretrained('./beit-base-patch16-224-pt22k');
 * const { lastHiddenState, poolerOutput } = await model.forward({ pixelValues });
 * ```
 */
export class BeitModel extends BeitPreTrainedModel<BeitModelOutputWithPooling> {
  /** The HF class name the addon builds. */
  static readonly architecture = 'BeitModel';
}

/**
 * BEiT with a linear classifier on the pooled output (HF `BeitForImageClassification`).
 *
 * @example
 * ```ts
 * const model = await BeitForImageClassification.fromPretrained('./beit-base-patch16-224');
 * const { logits } = await model.forward({ pixelValues });
 * ```
 */
export class BeitForImageClassification extends BeitPreTrainedModel<ImageClassifierOutput> {
  /** The HF class name the addon builds. */
  static readonly architecture: string = 'BeitForImageClassification';

  /**
   * Classifies images as HF's image-classification pipeline does: preprocess, forward, softmax,
   * the `topK` best labels. Resolves with one list per image.
   *
   * @example
   * ```ts
   * const [labels] = await model.classify('cat.jpg', { topK: 3 });
   * labels[0]; // { label: 'tabby, tabby cat', score: 0.61 }
   * ```
   */
  async classify(
    images: ImageInput | ImageInput[],
    options: { topK?: number; processor?: BeitImageProcessor } & ImageOptions = {},
  ): Promise<ClassificationResult[][]> {
    checkTopK(options.topK);
    const { logits } = (await this.forwardImages(images, options)).output;
    const [batch = 0, classes = 0] = logits.dims;
    const topK = Math.min(options.topK ?? 5, classes);
    return Array.from({ length: batch }, (_, i) => {
      const row = logits.data.subarray(i * classes, (i + 1) * classes);
      return softmax(row)
        .map((score, id) => ({ label: this.config.id2label[String(id)] ?? `LABEL_${id}`, score }))
        .sort((a, b) => b.score - a.score)
        .slice(0, topK);
    });
  }
}

/** A numerically stable softmax of one row of logits. */
function softmax(row: ArrayLike<number>): number[] {
  const values = Array.from(row);
  const max = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/**
 * BEiT's pre-training head (HF `BeitForMaskedImageModeling`): visual-token logits for every patch.
 *
 * @example
 * ```ts
 * const model = await BeitForMaskedImageModeling.fromPretrained('./beit-base-patch16-224-pt22k');
 * const { logits } = await model.forward({ pixelValues, boolMaskedPos });
 * ```
 */
export class BeitForMaskedImageModeling extends BeitPreTrainedModel<MaskedLMOutput> {
  /** The HF class name the addon builds. */
  static readonly architecture = 'BeitForMaskedImageModeling';
}

/**
 * BEiT with the UperNet segmentation head (HF `BeitForSemanticSegmentation`).
 *
 * @example
 * ```ts
 * const model = await BeitForSemanticSegmentation.fromPretrained('./beit-base-finetuned-ade-640-640');
 * const out = await model.forward({ pixelValues });
 * const [labelMap] = await postProcessSemanticSegmentation(out, [[480, 640]]);
 * ```
 */
export class BeitForSemanticSegmentation extends BeitPreTrainedModel<SemanticSegmenterOutput> {
  /** The HF class name the addon builds. */
  static readonly architecture: string = 'BeitForSemanticSegmentation';

  /**
   * Segments images: preprocess, forward, and one int32 label map per image at that image's own
   * size (logits resized bilinearly, then the arg-max class).
   *
   * @example
   * ```ts
   * const [map] = await segmenter.segment('street.jpg');
   * map.dims; // [height, width] of street.jpg
   * ```
   */
  async segment(
    images: ImageInput | ImageInput[],
    options: { processor?: BeitImageProcessor } & ImageOptions = {},
  ): Promise<Tensor[]> {
    const { output, originalSizes } = await this.forwardImages(images, options);
    return postProcessSemanticSegmentation(output, originalSizes);
  }
}

/**
 * BEiT as a feature extractor for dense tasks (HF `BeitBackbone`): one map per `outFeatures` stage.
 *
 * @example
 * ```ts
 * const backbone = await BeitBackbone.fromPretrained(dir);
 * const { featureMaps } = await backbone.forward({ pixelValues });
 * ```
 */
export class BeitBackbone extends BeitPreTrainedModel<BackboneOutput> {
  /** The HF class name the addon builds. */
  static readonly architecture = 'BeitBackbone';
}

/**
 * Data2Vec-Vision's base model (HF `Data2VecVisionModel`, `facebook/data2vec-vision-*`): BEiT's
 * arithmetic under Data2Vec's names. As in HF, it has no pooler: `poolerOutput` is absent.
 *
 * @example
 * ```ts
 * const model = await Data2VecVisionModel.fromPretrained('facebook/data2vec-vision-base');
 * const { lastHiddenState } = await model.forward({ pixelValues });
 * ```
 */
export class Data2VecVisionModel extends BeitPreTrainedModel<Data2VecVisionModelOutput> {
  /** The HF class name the addon builds. */
  static readonly architecture = 'Data2VecVisionModel';
}

/**
 * Data2Vec-Vision with a linear classifier on the pooled output (HF
 * `Data2VecVisionForImageClassification`, e.g. `facebook/data2vec-vision-base-ft1k`); `classify` as
 * BEiT's.
 */
export class Data2VecVisionForImageClassification extends BeitForImageClassification {
  /** The HF class name the addon builds. */
  static override readonly architecture = 'Data2VecVisionForImageClassification';
}

/**
 * Data2Vec-Vision with the UperNet segmentation head (HF `Data2VecVisionForSemanticSegmentation`);
 * `segment` as BEiT's.
 */
export class Data2VecVisionForSemanticSegmentation extends BeitForSemanticSegmentation {
  /** The HF class name the addon builds. */
  static override readonly architecture = 'Data2VecVisionForSemanticSegmentation';
}

/**
 * DPT with a BEiT backbone for monocular depth (HF `DPTForDepthEstimation`, `Intel/dpt-beit-base-384`,
 * `Intel/dpt-beit-large-512`): the backbone's features at four depths, reassembled into maps at four
 * scales, fused, and a convolutional head. Its processor is DPT's (`keepAspectRatio`, `ensureMultipleOf`).
 *
 * @example
 * ```ts
 * const model = await DPTForDepthEstimation.fromPretrained('Intel/dpt-beit-base-384');
 * const [{ predictedDepth, depth }] = await model.estimateDepth('room.jpg');
 * predictedDepth.dims; // [height, width] of room.jpg
 * ```
 */
export class DPTForDepthEstimation extends BeitPreTrainedModel<DepthEstimatorOutput> {
  /** The HF class name the addon builds. */
  static readonly architecture = 'DPTForDepthEstimation';

  /**
   * Estimates depth as HF's depth-estimation pipeline does: preprocess, forward, the predicted depth
   * resized to each image's size (bicubic), and its 8-bit picture (0 farthest, 255 nearest). One
   * result per image; images of different aspect ratios may go in one call (each runs at its own size).
   */
  async estimateDepth(
    images: ImageInput | ImageInput[],
    options: { processor?: BeitImageProcessor } & ImageOptions = {},
  ): Promise<DepthResult[]> {
    const processor = this.imageProcessor(options.processor);
    const list = Array.isArray(images) ? images : [images];
    // DPT's processor may keep each image's aspect ratio, so images can differ in size: one forward each.
    const results = list.map(async (image) => {
      const { output, originalSizes } = await this.forwardImages(image, { ...options, processor });
      const [result] = await postProcessDepthEstimation(output, originalSizes);
      return result as DepthResult;
    });
    return Promise.all(results);
  }
}
