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
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  hiddenAct: string;
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  initializerRange: number;
  layerNormEps: number;
  imageSize: number;
  patchSize: number;
  numChannels: number;
  useMaskToken: boolean;
  useAbsolutePositionEmbeddings: boolean;
  useRelativePositionBias: boolean;
  useSharedRelativePositionBias: boolean;
  layerScaleInitValue: number;
  dropPathRate: number;
  useMeanPooling: boolean;
  poolScales: number[];
  useAuxiliaryHead: boolean;
  auxiliaryLossWeight: number;
  auxiliaryChannels: number;
  auxiliaryNumConvs: number;
  auxiliaryConcatInput: boolean;
  semanticLossIgnoreIndex: number;
  outFeatures: string[];
  outIndices: number[];
  addFpn: boolean;
  reshapeHiddenStates: boolean;
  stageNames: string[];
  id2label: Record<string, string>;
  label2id: Record<string, number>;
  numLabels: number;
  problemType: ProblemType | null;
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
