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
import {
  BeitForImageClassification,
  BeitForSemanticSegmentation,
  BeitModel,
  BeitPreTrainedModel,
  type ClassificationResult,
  Data2VecVisionModel,
  DPTForDepthEstimation,
} from './models.js';
import type { LoadOptions } from './options.js';
import type { BeitImageProcessor, ImageInput, ImageOptions, RawImage } from './processor.js';
import { type SegmentationResult, segments } from './segments.js';
import type { Tensor } from './tensor.js';

/** The tasks `pipeline` builds. */
export type PipelineTask =
  | 'image-classification'
  | 'image-feature-extraction'
  | 'image-segmentation'
  | 'depth-estimation';

export type { ClassificationResult } from './models.js';

export type { SegmentationResult } from './segments.js';

/** One image's depth as transformers.js's and HF's depth-estimation pipelines give it: the predicted
 * depth at the image's size (float32 `[height, width]`, larger is nearer; resized bicubically as HF
 * does) and its 8-bit picture (0 farthest, 255 nearest). */
export interface DepthEstimationResult {
  /** float32 `[height, width]` at the image's size: relative inverse depth, larger is nearer. */
  predicted_depth: Tensor;
  /** Its 8-bit picture at the image's size: 0 farthest, 255 nearest. */
  depth: RawImage & {
    /** One channel: grey. */
    channels: 1;
  };
}

/** What every pipeline carries besides being callable. */
export interface PipelineParts<M> {
  /** The task it was built for. */
  readonly task: PipelineTask;
  /** The model it runs (from the Auto class of its task, or the one given). */
  readonly model: M;
  /** The model's image processor, which prepares the images. */
  readonly processor: BeitImageProcessor | undefined;
  /** Frees the model (a model given to `pipeline` too). */
  dispose(): Promise<void>;
}

/** `classifier(image)` gives the `topK` (default 5) classes of one image; `classifier([a, b])` one list per image. */
export interface ImageClassificationPipeline extends PipelineParts<BeitPreTrainedModel<unknown>> {
  (images: ImageInput, options?: { topK?: number } & ImageOptions): Promise<ClassificationResult[]>;
  (images: ImageInput[], options?: { topK?: number } & ImageOptions): Promise<ClassificationResult[][]>;
}

/** `extractor(images)` gives the last hidden state `[batch, tokens, hidden]`; with `pool: true` the
 * pooled output `[batch, hidden]`, as HF's `image-feature-extraction` does (a model without a pooler refuses). */
export interface ImageFeatureExtractionPipeline extends PipelineParts<BeitPreTrainedModel<unknown>> {
  (images: ImageInput | ImageInput[], options?: { pool?: boolean } & ImageOptions): Promise<Tensor>;
}

/** `segmenter(image)` gives one result per class present in the image; `segmenter([a, b])` one list per image. */
export interface ImageSegmentationPipeline extends PipelineParts<BeitPreTrainedModel<unknown>> {
  (images: ImageInput, options?: ImageOptions): Promise<SegmentationResult[]>;
  (images: ImageInput[], options?: ImageOptions): Promise<SegmentationResult[][]>;
}

/** `estimator(image)` gives the image's depth; `estimator([a, b])` one result per image. */
export interface DepthEstimationPipeline extends PipelineParts<BeitPreTrainedModel<unknown>> {
  (images: ImageInput, options?: ImageOptions): Promise<DepthEstimationResult>;
  (images: ImageInput[], options?: ImageOptions): Promise<DepthEstimationResult[]>;
}

/** The pipeline type `pipeline(task)` resolves with, by task. */
export interface TaskPipelines {
  /** Labels and scores. */
  'image-classification': ImageClassificationPipeline;
  /** Hidden states, or the pooled output. */
  'image-feature-extraction': ImageFeatureExtractionPipeline;
  /** A mask per class present. */
  'image-segmentation': ImageSegmentationPipeline;
  /** Depth and its picture. */
  'depth-estimation': DepthEstimationPipeline;
}

/** A model given to `pipeline`, or the checkpoint it names loaded by the task's Auto class. */
type ModelSource = string | BeitPreTrainedModel<unknown>;

/** The model of `source`: loaded by `auto` from a name, or the given one if it is one of `classes`. */
async function modelFor<M>(
  task: PipelineTask,
  source: ModelSource,
  auto: { fromPretrained(nameOrDir: string, options: LoadOptions): Promise<M> },
  classes: (abstract new (...args: never[]) => M)[],
  options: LoadOptions,
): Promise<M> {
  if (typeof source === 'string') return requireProcessor(await auto.fromPretrained(source, options), task, true);
  if (!classes.some((cls) => source instanceof cls)) {
    const names = classes.map((c) => c.name).join(' or ');
    throw new BeitError(
      'E_INVALID_ARGUMENT',
      `${task}: the model given is a ${source.constructor.name}, not a ${names}`,
    );
  }
  return requireProcessor(source as M, task, false);
}

/** The model, if it has a processor; else (freed, when loaded here) an error that says how to give one. */
async function requireProcessor<M>(model: M, task: PipelineTask, owned: boolean): Promise<M> {
  const { processor } = model as BeitPreTrainedModel<unknown>;
  if (!processor) {
    if (owned) await (model as BeitPreTrainedModel<unknown>).dispose();
    throw new BeitError(
      'E_CONFIG',
      `${task}: the model has no preprocessor_config.json, so the pipeline cannot prepare images: add one to its directory`,
    );
  }
  return model;
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

async function imageClassification(source: ModelSource, options: LoadOptions): Promise<ImageClassificationPipeline> {
  const task = 'image-classification';
  const model = await modelFor(task, source, AutoModelForImageClassification, [BeitForImageClassification], options);
  const run = async (images: ImageInput | ImageInput[], opts: { topK?: number } & ImageOptions = {}) =>
    perInput(images, await model.classify(images, opts));
  return assemble('image-classification', model, run) as unknown as ImageClassificationPipeline;
}

async function imageFeatureExtraction(
  source: ModelSource,
  options: LoadOptions,
): Promise<ImageFeatureExtractionPipeline> {
  const bases = [BeitModel, Data2VecVisionModel];
  const model = await modelFor('image-feature-extraction', source, AutoModel, bases, options);
  const processor = model.processor as BeitImageProcessor;
  const run = async (
    images: ImageInput | ImageInput[],
    opts: { pool?: boolean } & ImageOptions = {},
  ): Promise<Tensor> => {
    const { pixelValues } = await processor.preprocess(images, opts);
    const out = (await model.forward({ pixelValues }, opts)) as { lastHiddenState: Tensor; poolerOutput?: Tensor };
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

async function imageSegmentation(source: ModelSource, options: LoadOptions): Promise<ImageSegmentationPipeline> {
  const task = 'image-segmentation';
  const model = await modelFor(task, source, AutoModelForSemanticSegmentation, [BeitForSemanticSegmentation], options);
  const run = async (images: ImageInput | ImageInput[], opts: ImageOptions = {}) => {
    const maps = await model.segment(images, opts);
    return perInput(
      images,
      maps.map((map) => segments(map, model.config.id2label)),
    );
  };
  return assemble('image-segmentation', model, run) as unknown as ImageSegmentationPipeline;
}

async function depthEstimation(source: ModelSource, options: LoadOptions): Promise<DepthEstimationPipeline> {
  const task = 'depth-estimation';
  const model = await modelFor(task, source, AutoModelForDepthEstimation, [DPTForDepthEstimation], options);
  const run = async (images: ImageInput | ImageInput[], opts: ImageOptions = {}) => {
    const results = await model.estimateDepth(images, opts);
    return perInput(
      images,
      results.map(({ predictedDepth, depth }) => ({ predicted_depth: predictedDepth, depth })),
    );
  };
  return assemble('depth-estimation', model, run) as unknown as DepthEstimationPipeline;
}

const builders: { [T in PipelineTask]: (source: ModelSource, options: LoadOptions) => Promise<TaskPipelines[T]> } = {
  'image-classification': imageClassification,
  'image-feature-extraction': imageFeatureExtraction,
  'image-segmentation': imageSegmentation,
  'depth-estimation': depthEstimation,
};

/**
 * A pipeline for `task` on the checkpoint `model` (a directory or a repo id; transformers' default
 * models for these tasks are not BEiTs, so it is required), or on a model already loaded (as
 * transformers' `pipeline(task, model=...)`). The model class is chosen from its `config.json` as
 * `AutoModelFor...` does; images are prepared by its `preprocessor_config.json`. `dispose()` frees the
 * model, a given one too.
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
  model: string | BeitPreTrainedModel<unknown>,
  options: LoadOptions = {},
): Promise<TaskPipelines[T]> {
  const build = Object.hasOwn(builders, task) ? builders[task] : undefined;
  if (!build) {
    throw new BeitError(
      'E_INVALID_ARGUMENT',
      `pipeline: task ${JSON.stringify(task)} is not one of ${Object.keys(builders).join(', ')}`,
    );
  }
  if (!(model instanceof BeitPreTrainedModel) && (typeof model !== 'string' || model === '')) {
    throw new BeitError(
      'E_INVALID_ARGUMENT',
      `pipeline: pass the model for ${task} (a directory or a repo id): transformers' default for it is not a BEiT`,
    );
  }
  return build(model, options) as Promise<TaskPipelines[T]>;
}
