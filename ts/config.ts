/**
 * `BeitConfig`: every field of HuggingFace's BeitConfig, in camelCase, with HF's defaults.
 * Defaults and validation live in the Rust crate, so Rust and TypeScript cannot drift apart.
 * @module
 */
import { callNativeSync } from './errors.js';
import { type HubOptions, resolveModelDir } from './hub.js';
import { native } from './native.js';

/** The problem types of HF's classification heads. */
export type ProblemType = 'regression' | 'single_label_classification' | 'multi_label_classification';

/** The fields of a BEiT config (HF `BeitConfig`), camelCased. */
export interface BeitConfigFields {
  /** The model type: `'beit'` (DiT included), `'data2vec-vision'`, or `'dpt'` for a DPT checkpoint. */
  modelType: string;
  /** The size of the visual-token vocabulary that the masked image modeling head predicts (default 8192). */
  vocabSize: number;
  /** The width of the encoder layers and the pooler (default 768). */
  hiddenSize: number;
  /** The number of Transformer layers in the encoder (default 12). */
  numHiddenLayers: number;
  /** The number of attention heads in each layer (default 12). */
  numAttentionHeads: number;
  /** The width of each layer's feed-forward block (default 3072). */
  intermediateSize: number;
  /** The feed-forward activation function, by HF name (default `'gelu'`). */
  hiddenAct: string;
  /** The dropout probability of the fully connected layers (HF's training setting; inference does not use it). */
  hiddenDropoutProb: number;
  /** The dropout probability of the attention weights (HF's training setting; inference does not use it). */
  attentionProbsDropoutProb: number;
  /** The standard deviation of the normal distribution random weights (`fromConfig`) are drawn from (default 0.02). */
  initializerRange: number;
  /** The epsilon of the layer norms (default 1e-12). */
  layerNormEps: number;
  /** The input resolution, in pixels per side (default 224). */
  imageSize: number;
  /** The side of each square patch, in pixels (default 16). */
  patchSize: number;
  /** The number of input channels (default 3). */
  numChannels: number;
  /** Whether the embeddings have a mask token, for masked image modeling's `boolMaskedPos`. */
  useMaskToken: boolean;
  /** Whether the embeddings add learned absolute position embeddings. */
  useAbsolutePositionEmbeddings: boolean;
  /** Whether each self-attention layer has its own relative position bias. */
  useRelativePositionBias: boolean;
  /** Whether all self-attention layers share one relative position bias. */
  useSharedRelativePositionBias: boolean;
  /** The initial value of the per-channel layer scale; 0 or less: no layer scale (default 0.1). */
  layerScaleInitValue: number;
  /** The stochastic depth rate (HF's training setting; inference does not use it). */
  dropPathRate: number;
  /** Whether the pooler averages the patch tokens (then layer-normed) instead of taking the CLS token. */
  useMeanPooling: boolean;
  /** The pooling scales of the UperNet head's pyramid pooling module (default `[1, 2, 3, 6]`). */
  poolScales: number[];
  /** Whether semantic segmentation has the auxiliary FCN head, which adds to the loss. */
  useAuxiliaryHead: boolean;
  /** The weight of the auxiliary head's loss in the semantic segmentation loss (default 0.4). */
  auxiliaryLossWeight: number;
  /** The number of channels of the auxiliary head (default 256). */
  auxiliaryChannels: number;
  /** The number of convolutions of the auxiliary head (default 1). */
  auxiliaryNumConvs: number;
  /** Whether the auxiliary head concatenates its input to its convolutions' output before the classifier. */
  auxiliaryConcatInput: boolean;
  /** The label that the semantic segmentation loss ignores (default 255). */
  semanticLossIgnoreIndex: number;
  /** As a backbone: the stages to output, by name (see `stageNames`). */
  outFeatures: string[];
  /** As a backbone: the stages to output, by index into `stageNames`. */
  outIndices: number[];
  /** As a backbone: whether to add the feature pyramid network that rescales four feature maps. */
  addFpn: boolean;
  /** As a backbone: whether feature maps are `[batch, channels, height, width]` rather than token sequences. */
  reshapeHiddenStates: boolean;
  /** The names of the stages: `'stem'` then `'stage1'` … one per layer. */
  stageNames: string[];
  /** The class names, by class index (as a string). */
  id2label: Record<string, string>;
  /** The class indices, by class name. */
  label2id: Record<string, number>;
  /** The number of classes of the classification or segmentation head. */
  numLabels: number;
  /** The loss the classification head computes given labels (HF's `problem_type`); null: inferred from the labels
   * and `numLabels`. */
  problemType: ProblemType | null;
  /** The model classes the checkpoint was saved from (HF's `architectures`), or null. */
  architectures: string[] | null;
  /** A DPT checkpoint's (`modelType` `'dpt'`, `Intel/dpt-beit-*`): the BEiT backbone's config. The
   * other fields are then DPT's, as in HF's `DPTConfig` (`readoutType`, `neckHiddenSizes`, ...). */
  backboneConfig?: BeitConfig;
}

/** What `new BeitConfig(...)` takes: any subset of the fields; the rest get HF's defaults. */
export type BeitConfigInit = Partial<BeitConfigFields> & Record<string, unknown>;

const toCamel = (key: string): string => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const toSnake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function renameKeys(obj: Record<string, unknown>, rename: (k: string) => string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [rename(k), v]));
}

/**
 * A BEiT model configuration, read from `config.json` or built from fields.
 *
 * @example
 * ```ts
 * const config = await BeitConfig.fromPretrained('./beit-base-patch16-224');
 * config.hiddenSize; // 768
 * const tiny = new BeitConfig({ hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4 });
 * const model = await BeitModel.fromConfig(tiny); // random weights
 * ```
 */
export class BeitConfig implements Readonly<BeitConfigFields> {
  declare readonly modelType: string;
  declare readonly vocabSize: number;
  declare readonly hiddenSize: number;
  declare readonly numHiddenLayers: number;
  declare readonly numAttentionHeads: number;
  declare readonly intermediateSize: number;
  declare readonly hiddenAct: string;
  declare readonly hiddenDropoutProb: number;
  declare readonly attentionProbsDropoutProb: number;
  declare readonly initializerRange: number;
  declare readonly layerNormEps: number;
  declare readonly imageSize: number;
  declare readonly patchSize: number;
  declare readonly numChannels: number;
  declare readonly useMaskToken: boolean;
  declare readonly useAbsolutePositionEmbeddings: boolean;
  declare readonly useRelativePositionBias: boolean;
  declare readonly useSharedRelativePositionBias: boolean;
  declare readonly layerScaleInitValue: number;
  declare readonly dropPathRate: number;
  declare readonly useMeanPooling: boolean;
  declare readonly poolScales: number[];
  declare readonly useAuxiliaryHead: boolean;
  declare readonly auxiliaryLossWeight: number;
  declare readonly auxiliaryChannels: number;
  declare readonly auxiliaryNumConvs: number;
  declare readonly auxiliaryConcatInput: boolean;
  declare readonly semanticLossIgnoreIndex: number;
  declare readonly outFeatures: string[];
  declare readonly outIndices: number[];
  declare readonly addFpn: boolean;
  declare readonly reshapeHiddenStates: boolean;
  declare readonly stageNames: string[];
  declare readonly id2label: Record<string, string>;
  declare readonly label2id: Record<string, number>;
  declare readonly numLabels: number;
  declare readonly problemType: ProblemType | null;
  declare readonly architectures: string[] | null;
  declare readonly backboneConfig?: BeitConfig;

  /** @throws BeitError `E_CONFIG` naming the field when a value is unusable. */
  constructor(init: BeitConfigInit = {}) {
    const json = JSON.stringify(renameKeys(init, toSnake));
    Object.assign(this, BeitConfig.parse(callNativeSync(() => native.normalizeConfig(json))));
  }

  /**
   * Reads `config.json` from a checkpoint directory or a repo id (cached, or downloaded: see `HubOptions`).
   * @throws BeitError `E_CONFIG` when the file is missing or a value is unusable.
   */
  static async fromPretrained(nameOrDir: string, options: HubOptions = {}): Promise<BeitConfig> {
    const dir = await resolveModelDir(nameOrDir, options, 'config');
    const json = callNativeSync(() => native.loadConfig(dir));
    return BeitConfig.fromJSON(json);
  }

  /** Builds a config from HF-style (snake_case) JSON text. */
  static fromJSON(json: string): BeitConfig {
    return new BeitConfig(BeitConfig.parse(json));
  }

  private static parse(json: string): BeitConfigInit {
    const fields = renameKeys(JSON.parse(json) as Record<string, unknown>, toCamel);
    const backbone = fields.backboneConfig;
    if (backbone && typeof backbone === 'object' && !(backbone instanceof BeitConfig)) {
      fields.backboneConfig = BeitConfig.fromJSON(JSON.stringify(backbone));
    }
    return fields;
  }

  /** The config as HF writes `config.json`: snake_case keys (a DPT backbone's too). */
  toJSON(): Record<string, unknown> {
    const json = renameKeys({ ...this } as Record<string, unknown>, toSnake);
    if (this.backboneConfig) json.backbone_config = this.backboneConfig.toJSON();
    return json;
  }
}
