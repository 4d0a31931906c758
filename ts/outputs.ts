/**
 * The inputs of `forward` and the output types, named as in HuggingFace `transformers`.
 * @module
 */
import type { Tensor } from './tensor.js';

/**
 * The arguments of `forward`.
 *
 * @example
 * ```ts
 * await model.forward({ pixelValues, outputHiddenStates: true });
 * ```
 */
export interface ForwardInputs {
  /** float32 `[batch, channels, height, width]`; any height and width of at least one patch. */
  pixelValues: Tensor;
  /** uint8 `[batch, numPatches]`, 1 where a patch is replaced by the mask token. */
  boolMaskedPos?: Tensor;
  /** int32 class ids (one per image, per masked patch, or `[batch, h, w]` maps), or float32 targets. */
  labels?: Tensor;
  /** Accepted for HF compatibility: position encodings are resampled for any input size. */
  interpolatePosEncoding?: boolean;
  /** Also return the embeddings' and every layer's output. */
  outputHiddenStates?: boolean;
  /** Also return every layer's attention probabilities. */
  outputAttentions?: boolean;
}

/** What every output may carry on request. */
export interface ModelOutputBase {
  /** One `[batch, seq, hidden]` tensor for the embeddings, then one per layer. */
  hiddenStates?: Tensor[];
  /** One `[batch, heads, seq, seq]` tensor per layer (after softmax). */
  attentions?: Tensor[];
}

/** The output of `BeitModel` (HF `BeitModelOutputWithPooling`). */
export interface BeitModelOutputWithPooling extends ModelOutputBase {
  /** `[batch, seq, hidden]`. */
  lastHiddenState: Tensor;
  /** `[batch, hidden]`: mean of the patch tokens after LayerNorm, or the CLS token. */
  poolerOutput: Tensor;
}

/** The output of `Data2VecVisionModel`: `BeitModel`'s without the pooled output (it has no pooler, as in HF). */
export type Data2VecVisionModelOutput = Omit<BeitModelOutputWithPooling, 'poolerOutput'>;

/** The output of `BeitForImageClassification` (HF `ImageClassifierOutput`). */
export interface ImageClassifierOutput extends ModelOutputBase {
  /** 0-dim loss, when labels were given. */
  loss?: Tensor;
  /** `[batch, numLabels]`. */
  logits: Tensor;
}

/** The output of `BeitForMaskedImageModeling` (HF `MaskedLMOutput`). */
export interface MaskedLMOutput extends ModelOutputBase {
  /** 0-dim cross-entropy over the masked patches, when labels were given. */
  loss?: Tensor;
  /** `[batch, numPatches, vocabSize]` visual-token logits for every patch. */
  logits: Tensor;
}

/** The output of `BeitForSemanticSegmentation` (HF `SemanticSegmenterOutput`). */
export interface SemanticSegmenterOutput extends ModelOutputBase {
  /** 0-dim loss (main + weighted auxiliary), when label maps were given. */
  loss?: Tensor;
  /** `[batch, numLabels, height / 4, width / 4]` for patch size 16. */
  logits: Tensor;
}

/** The output of `DPTForDepthEstimation` (HF `DepthEstimatorOutput`). */
export interface DepthEstimatorOutput extends ModelOutputBase {
  /** `[batch, height, width]`: relative inverse depth (larger is nearer), at the input's size for
   * inputs whose sides are multiples of the patch size. */
  predictedDepth: Tensor;
}

/** The output of `BeitBackbone` (HF `BackboneOutput`). */
export interface BackboneOutput extends ModelOutputBase {
  /** One map per `outFeatures` stage: `[batch, hidden, h, w]`, or `[batch, seq, hidden]` without reshaping. */
  featureMaps: Tensor[];
}
