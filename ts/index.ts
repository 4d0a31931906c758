/**
 * beit-node: BEiT vision transformers for Node.js, in native Rust (candle), with the API and the
 * numbers of HuggingFace `transformers`.
 *
 * @example
 * ```ts
 * import { BeitForImageClassification, Tensor } from 'beit-node';
 * const model = await BeitForImageClassification.fromPretrained('./beit-base-patch16-224');
 * const { logits } = await model.forward({ pixelValues: new Tensor(pixels, [1, 3, 224, 224]) });
 * await model.dispose();
 * ```
 * @module beit-node
 */

export {
  AutoBackbone,
  AutoImageProcessor,
  AutoModel,
  AutoModelForDepthEstimation,
  AutoModelForImageClassification,
  AutoModelForMaskedImageModeling,
  AutoModelForSemanticSegmentation,
} from './auto.js';
export { type BundledModel, bundledModelDir } from './bundled.js';
export { BeitConfig, type BeitConfigFields, type BeitConfigInit, type ProblemType } from './config.js';
export { type CpuInfo, type CpuLevel, cpuInfo } from './cpu.js';
export { type CudaInfo, cudaInfo } from './cuda.js';
export { BeitError, type BeitErrorCode } from './errors.js';
export { type DownloadProgress, type HubOptions, type RepoFiles, resolveModelDir } from './hub.js';
export type { ImageSourceOptions } from './image_download.js';
export { getLimits, type Limits, setLimits } from './limits.js';
export {
  BeitBackbone,
  BeitForImageClassification,
  BeitForMaskedImageModeling,
  BeitForSemanticSegmentation,
  BeitModel,
  BeitPreTrainedModel,
  type ClassificationResult,
  Data2VecVisionForImageClassification,
  Data2VecVisionForSemanticSegmentation,
  Data2VecVisionModel,
  DPTForDepthEstimation,
  type ModelClass,
  type QueueStats,
  type RunOptions,
} from './models.js';
export type { BatchingOptions, DeviceName, DTypeName, LoadOptions } from './options.js';
export type {
  BackboneOutput,
  BeitModelOutputWithPooling,
  Data2VecVisionModelOutput,
  DepthEstimatorOutput,
  ForwardInputs,
  ImageClassifierOutput,
  MaskedLMOutput,
  ModelOutputBase,
  SemanticSegmenterOutput,
} from './outputs.js';
export {
  type DepthEstimationPipeline,
  type DepthEstimationResult,
  type ImageClassificationPipeline,
  type ImageFeatureExtractionPipeline,
  type ImageSegmentationPipeline,
  type PipelineParts,
  type PipelineTask,
  pipeline,
  type SegmentationResult,
  type TaskPipelines,
} from './pipeline.js';
export { type DepthResult, postProcessDepthEstimation, postProcessSemanticSegmentation } from './postprocess.js';
export {
  BeitFeatureExtractor,
  BeitImageProcessor,
  type BeitImageProcessorOptions,
  type ImageDataLike,
  type ImageInput,
  type ImageOptions,
  type ProcessedImages,
  type RawImage,
  type SizeOption,
} from './processor.js';
export type { SharpInstance, SharpOutput } from './sharp_image.js';
export { Tensor, type TensorData, type TensorDataType } from './tensor.js';
