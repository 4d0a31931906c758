/**
 * The model classes of HF's modeling_beit.py, with HF's `fromPretrained`,
 * `forward` and outputs. Each call runs in the addon off the JS thread.
 * @module
 */
import { BeitConfig } from './config.js';
import { BeitError, callNative, callNativeSync } from './errors.js';
import type { NativeForwardInputs, NativeForwardOutput, NativeModel, NativeTensor } from './native.js';
import { native } from './native.js';
import type { LoadOptions } from './options.js';
import type {
  BackboneOutput,
  BeitModelOutputWithPooling,
  ForwardInputs,
  ImageClassifierOutput,
  MaskedLMOutput,
  SemanticSegmenterOutput,
} from './outputs.js';
import { Tensor, type TensorDataType } from './tensor.js';

/** A model class, as the static factories see it. */
interface ModelClass<M> {
  new (handle: NativeModel, config: BeitConfig): M;
  readonly architecture: string;
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
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<
    string,
    Tensor | Tensor[]
  >;
}

/**
 * What every BEiT model class shares (HF `BeitPreTrainedModel`).
 * @typeParam Output - the output type of `forward`.
 */
export abstract class BeitPreTrainedModel<Output> {
  /** The configuration the model was built from. */
  readonly config: BeitConfig;
  readonly #handle: NativeModel;

  /** @internal Use `fromPretrained` or `fromConfig`. */
  constructor(handle: NativeModel, config: BeitConfig) {
    this.#handle = handle;
    this.config = config;
  }

  /**
   * Loads a checkpoint directory in the HF hub layout (config.json + model.safetensors,
   * sharded safetensors, or pytorch_model.bin).
   * @throws BeitError `E_CONFIG`, `E_WEIGHTS` (a missing or mis-shaped tensor is named), ...
   */
  static async fromPretrained<M>(this: ModelClass<M>, dir: string, options: LoadOptions = {}): Promise<M> {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass the factory was called on.
    const handle = await callNative(() => native.loadModel(this.architecture, dir, options));
    return new this(handle, BeitConfig.fromJSON(handle.configJson()));
  }

  /** Builds the model with random weights, initialised as HF initialises a new model. */
  static async fromConfig<M>(this: ModelClass<M>, config: BeitConfig, options: LoadOptions = {}): Promise<M> {
    const json = JSON.stringify(config.toJSON());
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass the factory was called on.
    const handle = await callNative(() => native.modelFromConfig(this.architecture, json, options));
    return new this(handle, BeitConfig.fromJSON(handle.configJson()));
  }

  /**
   * Runs the model. Resolves with the outputs of HF's corresponding output class.
   * @throws BeitError `E_SHAPE` when an input has the wrong dims or dtype.
   */
  async forward(inputs: ForwardInputs): Promise<Output> {
    const nativeInputs = callNativeSync(() => toNativeInputs(inputs));
    const out = await callNative(() => this.#handle.forward(nativeInputs));
    return fromNativeOutput(out) as Output;
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
  static readonly architecture = 'BeitForImageClassification';
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
  static readonly architecture = 'BeitForSemanticSegmentation';
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
  static readonly architecture = 'BeitBackbone';
}
