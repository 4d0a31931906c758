/**
 * `pipeline(task, model)`: the entry point of transformers and transformers.js, for the tasks the BEiT
 * architecture serves. The model class comes from the checkpoint's `config.json` (the Auto classes); a
 * pipeline is a function of images with the model, its processor and `dispose` attached.
 * @module
 */
import {
  AutoModel,
  AutoModelForDepthEstimation,
  AutoModelForImageClassification,
  AutoModelForSemanticSegmentation,
} from './auto.js';
import { BeitError } from './errors.js';
import type { BeitPreTrainedModel, RunOptions } from './models.js';
import type { LoadOptions } from './options.js';
import type { BeitImageProcessor, ImageInput, RawImage } from './processor.js';
import type { Tensor } from './tensor.js';

/** The tasks `pipeline` builds. */
export type PipelineTask =
  | 'image-classification'
  | 'image-feature-extraction'
  | 'image-segmentation'
  | 'depth-estimation';

/** One class of an image: HF's `{ label, score }`. */
export interface ClassificationResult {
  label: string;
  score: number;
}

/** One class present in a semantic segmentation: HF's `{ label, score: null, mask }`, the mask 255 where
 * the class is and 0 elsewhere, one channel, at the input image's size. */
export interface SegmentationResult {
  label: string;
  score: null;
  mask: RawImage & { channels: 1 };
}

/** One image's depth as transformers.js's and HF's depth-estimation pipelines give it: the predicted
 * depth at the image's size (float32 `[height, width]`, larger is nearer; resized bicubically as HF
 * does) and its 8-bit picture (0 farthest, 255 nearest). */
export interface DepthEstimationResult {
  predicted_depth: Tensor;
  depth: RawImage & { channels: 1 };
}

/** What every pipeline carries besides being callable. */
interface PipelineParts<M> {
  readonly task: PipelineTask;
  readonly model: M;
  readonly processor: BeitImageProcessor | undefined;
  dispose(): Promise<void>;
}

/** `classifier(image)` gives the `topK` (default 5) classes of one image; `classifier([a, b])` one list per image. */
export interface ImageClassificationPipeline extends PipelineParts<BeitPreTrainedModel<unknown>> {
  (images: ImageInput, options?: { topK?: number } & RunOptions): Promise<ClassificationResult[]>;
  (images: ImageInput[], options?: { topK?: number } & RunOptions): Promise<ClassificationResult[][]>;
}

/** `extractor(images)` gives the last hidden state `[batch, tokens, hidden]`; with `pool: true` the
 * pooled output `[batch, hidden]`, as HF's `image-feature-extraction` does (a model without a pooler refuses). */
export interface ImageFeatureExtractionPipeline extends PipelineParts<BeitPreTrainedModel<unknown>> {
  (images: ImageInput | ImageInput[], options?: { pool?: boolean } & RunOptions): Promise<Tensor>;
}

/** `segmenter(image)` gives one result per class present in the image; `segmenter([a, b])` one list per image. */
export interface ImageSegmentationPipeline extends PipelineParts<BeitPreTrainedModel<unknown>> {
  (images: ImageInput, options?: RunOptions): Promise<SegmentationResult[]>;
  (images: ImageInput[], options?: RunOptions): Promise<SegmentationResult[][]>;
}

/** `estimator(image)` gives the image's depth; `estimator([a, b])` one result per image. */
export interface DepthEstimationPipeline extends PipelineParts<BeitPreTrainedModel<unknown>> {
  (images: ImageInput, options?: RunOptions): Promise<DepthEstimationResult>;
  (images: ImageInput[], options?: RunOptions): Promise<DepthEstimationResult[]>;
}

interface TaskPipelines {
  'image-classification': ImageClassificationPipeline;
  'image-feature-extraction': ImageFeatureExtractionPipeline;
  'image-segmentation': ImageSegmentationPipeline;
  'depth-estimation': DepthEstimationPipeline;
}

/** The checkpoint's processor; without one the model is freed and the error says how to give one. */
async function requireProcessor(model: BeitPreTrainedModel<unknown>, task: PipelineTask): Promise<BeitImageProcessor> {
  if (!model.processor) {
    await model.dispose();
    throw new BeitError(
      'E_CONFIG',
      `${task}: the model has no preprocessor_config.json, so the pipeline cannot prepare images: add one to its directory`,
    );
  }
  return model.processor;
}

/** `run` as a function with the pipeline's parts attached. */
function assemble<M extends BeitPreTrainedModel<unknown>, F extends (...args: never[]) => unknown>(
  task: PipelineTask,
  model: M,
  run: F,
): F & PipelineParts<M> {
  return Object.assign(run, {
    task,
    model,
    processor: model.processor,
    dispose: () => model.dispose(),
  });
}

/** A single image's results unwrapped, a list's kept per image (as transformers.js returns them). */
function perInput<T>(images: ImageInput | ImageInput[], results: T[]): T | T[] {
  return Array.isArray(images) ? results : (results[0] as T);
}

async function imageClassification(nameOrDir: string, options: LoadOptions): Promise<ImageClassificationPipeline> {
  const model = await AutoModelForImageClassification.fromPretrained(nameOrDir, options);
  await requireProcessor(model, 'image-classification');
  const run = async (images: ImageInput | ImageInput[], opts: { topK?: number } & RunOptions = {}) =>
    perInput(images, await model.classify(images, opts));
  return assemble('image-classification', model, run) as unknown as ImageClassificationPipeline;
}

async function imageFeatureExtraction(
  nameOrDir: string,
  options: LoadOptions,
): Promise<ImageFeatureExtractionPipeline> {
  const model = await AutoModel.fromPretrained(nameOrDir, options);
  const processor = await requireProcessor(model, 'image-feature-extraction');
  const run = async (
    images: ImageInput | ImageInput[],
    opts: { pool?: boolean } & RunOptions = {},
  ): Promise<Tensor> => {
    const { pixelValues } = await processor.preprocess(images);
    const out: { lastHiddenState: Tensor; poolerOutput?: Tensor } = await model.forward({ pixelValues }, opts);
    if (!opts.pool) return out.lastHiddenState;
    if (!out.poolerOutput) {
      throw new BeitError(
        'E_INVALID_ARGUMENT',
        'image-feature-extraction: this model has no pooler (Data2VecVisionModel has none, as in HF): leave pool unset',
      );
    }
    return out.poolerOutput;
  };
  return assemble('image-feature-extraction', model, run);
}

/** Each class present in one `[height, width]` label map, with its mask, in class order (as HF). */
function segments(map: Tensor, id2label: Record<string, string>): SegmentationResult[] {
  const [height = 0, width = 0] = map.dims;
  // One pass over the map, each class's mask made where it first appears.
  const masks = new Map<number, Uint8Array>();
  (map.data as Int32Array).forEach((id, i) => {
    let mask = masks.get(id);
    if (!mask) {
      mask = new Uint8Array(height * width);
      masks.set(id, mask);
    }
    mask[i] = 255;
  });
  return [...masks.entries()]
    .sort(([a], [b]) => a - b)
    .map(([id, data]) => ({
      label: id2label[String(id)] ?? `LABEL_${id}`,
      score: null,
      mask: { data, width, height, channels: 1 },
    }));
}

async function imageSegmentation(nameOrDir: string, options: LoadOptions): Promise<ImageSegmentationPipeline> {
  const model = await AutoModelForSemanticSegmentation.fromPretrained(nameOrDir, options);
  await requireProcessor(model, 'image-segmentation');
  const run = async (images: ImageInput | ImageInput[], opts: RunOptions = {}) => {
    const maps = await model.segment(images, opts);
    return perInput(
      images,
      maps.map((map) => segments(map, model.config.id2label)),
    );
  };
  return assemble('image-segmentation', model, run) as unknown as ImageSegmentationPipeline;
}

async function depthEstimation(nameOrDir: string, options: LoadOptions): Promise<DepthEstimationPipeline> {
  const model = await AutoModelForDepthEstimation.fromPretrained(nameOrDir, options);
  await requireProcessor(model, 'depth-estimation');
  const run = async (images: ImageInput | ImageInput[], opts: RunOptions = {}) => {
    const results = await model.estimateDepth(images, opts);
    return perInput(
      images,
      results.map(({ predictedDepth, depth }) => ({ predicted_depth: predictedDepth, depth })),
    );
  };
  return assemble('depth-estimation', model, run) as unknown as DepthEstimationPipeline;
}

const builders: { [T in PipelineTask]: (nameOrDir: string, options: LoadOptions) => Promise<TaskPipelines[T]> } = {
  'image-classification': imageClassification,
  'image-feature-extraction': imageFeatureExtraction,
  'image-segmentation': imageSegmentation,
  'depth-estimation': depthEstimation,
};

/**
 * A pipeline for `task` on the checkpoint `model` (a directory or a repo id; transformers' default
 * models for these tasks are not BEiTs, so it is required). The model class is chosen from its
 * `config.json` as `AutoModelFor...` does; images are prepared by its `preprocessor_config.json`.
 *
 * @example
 * ```ts
 * const classifier = await pipeline('image-classification', 'microsoft/beit-base-patch16-224');
 * const top = await classifier('cat.jpg', { topK: 3 }); // [{ label: 'tabby, tabby cat', score: 0.61 }, ...]
 * await classifier.dispose();
 * ```
 * @throws BeitError `E_INVALID_ARGUMENT` for another task or no model, `E_CONFIG` for a model type
 *   without a class for the task or a checkpoint without an image processor; what `fromPretrained` throws.
 */
export async function pipeline<T extends PipelineTask>(
  task: T,
  model: string,
  options: LoadOptions = {},
): Promise<TaskPipelines[T]> {
  const build = Object.hasOwn(builders, task) ? builders[task] : undefined;
  if (!build) {
    throw new BeitError(
      'E_INVALID_ARGUMENT',
      `pipeline: task ${JSON.stringify(task)} is not one of ${Object.keys(builders).join(', ')}`,
    );
  }
  if (typeof model !== 'string' || model === '') {
    throw new BeitError(
      'E_INVALID_ARGUMENT',
      `pipeline: pass the model for ${task} (a directory or a repo id): transformers' default for it is not a BEiT`,
    );
  }
  return build(model, options) as Promise<TaskPipelines[T]>;
}
