/**
 * HF's Auto classes: the model class for a task, chosen from the checkpoint's `config.json` by its
 * `model_type` (as transformers' `AutoModelFor...` mappings do), then loaded as that class loads.
 * @module
 */
import { BeitConfig } from './config.js';
import { BeitError } from './errors.js';
import type { HubOptions } from './hub.js';
import {
  BeitBackbone,
  BeitForImageClassification,
  BeitForMaskedImageModeling,
  BeitForSemanticSegmentation,
  BeitModel,
  Data2VecVisionForImageClassification,
  Data2VecVisionForSemanticSegmentation,
  Data2VecVisionModel,
  DPTForDepthEstimation,
} from './models.js';
import type { LoadOptions } from './options.js';
import { BeitImageProcessor } from './processor.js';

/** What a class's `fromPretrained` gives. */
interface Loadable<M> {
  fromPretrained(nameOrDir: string, options?: LoadOptions): Promise<M>;
}

/** Per model type, the class that runs the task; a type without one is refused by name. */
type Mapping<M> = Partial<Record<string, Loadable<M>>>;

/** Reads the config (only `config.json` is fetched for a repo id), picks the class, loads it. */
async function load<M>(auto: string, mapping: Mapping<M>, nameOrDir: string, options: LoadOptions): Promise<M> {
  const { modelType } = await BeitConfig.fromPretrained(nameOrDir, options);
  const cls = mapping[modelType];
  if (!cls) {
    const supported = Object.keys(mapping)
      .map((t) => `"${t}"`)
      .join(', ');
    throw new BeitError(
      'E_CONFIG',
      `${auto}: model type "${modelType}" has no class for this task here (supported: ${supported})`,
    );
  }
  return cls.fromPretrained(nameOrDir, options);
}

/** An Auto class: `fromPretrained` loads the class `mapping` gives for the checkpoint's model type. */
function autoClass<M>(name: string, mapping: Mapping<M>) {
  return {
    /**
     * Reads the checkpoint's `config.json` (a directory, or a repo id: only that file is fetched first),
     * then loads the class this Auto class maps its `model_type` to, with that class's `fromPretrained`.
     * @throws BeitError `E_CONFIG` when the model type has no class for this task.
     */
    fromPretrained: (nameOrDir: string, options: LoadOptions = {}): Promise<M> =>
      load(name, mapping, nameOrDir, options),
  };
}

/**
 * The base model of a checkpoint (HF `AutoModel`): `BeitModel` or `Data2VecVisionModel`.
 *
 * @example
 * ```ts
 * const model = await AutoModel.fromPretrained('facebook/data2vec-vision-base');
 * ```
 */
export const AutoModel = autoClass<BeitModel | Data2VecVisionModel>('AutoModel', {
  beit: BeitModel,
  'data2vec-vision': Data2VecVisionModel,
});

/** HF `AutoModelForImageClassification`: BEiT (DiT included) or Data2Vec-Vision with its classifier. */
export const AutoModelForImageClassification = autoClass<BeitForImageClassification>(
  'AutoModelForImageClassification',
  { beit: BeitForImageClassification, 'data2vec-vision': Data2VecVisionForImageClassification },
);

/** HF `AutoModelForSemanticSegmentation`: the UperNet head of BEiT or Data2Vec-Vision. */
export const AutoModelForSemanticSegmentation = autoClass<BeitForSemanticSegmentation>(
  'AutoModelForSemanticSegmentation',
  { beit: BeitForSemanticSegmentation, 'data2vec-vision': Data2VecVisionForSemanticSegmentation },
);

/** HF `AutoModelForMaskedImageModeling`: BEiT's pre-training head (Data2Vec-Vision has none in HF). */
export const AutoModelForMaskedImageModeling = autoClass<BeitForMaskedImageModeling>(
  'AutoModelForMaskedImageModeling',
  { beit: BeitForMaskedImageModeling },
);

/** HF `AutoModelForDepthEstimation`: DPT on a BEiT backbone (`Intel/dpt-beit-*`). */
export const AutoModelForDepthEstimation = autoClass<DPTForDepthEstimation>('AutoModelForDepthEstimation', {
  dpt: DPTForDepthEstimation,
});

/** HF `AutoBackbone`: `BeitBackbone`. */
export const AutoBackbone = autoClass<BeitBackbone>('AutoBackbone', { beit: BeitBackbone });

/** HF `AutoImageProcessor`: `BeitImageProcessor`, which also reads DPT's processor config
 * (`keep_aspect_ratio`, `ensure_multiple_of`) for DPT checkpoints. */
export const AutoImageProcessor = {
  /** Loads the checkpoint's preprocessor config: {@link BeitImageProcessor.fromPretrained}. */
  fromPretrained(nameOrDir: string, options: HubOptions & { maxPixels?: number } = {}): Promise<BeitImageProcessor> {
    return BeitImageProcessor.fromPretrained(nameOrDir, options);
  },
};
