/**
 * The image processor of the CLI's commands: the one `--processor <dir|repo>` names, else the
 * checkpoint's own (its preprocessor_config.json), else with `--default-processor` HF's
 * `BeitImageProcessor` defaults fitted to the model's image size. Without a flag, a checkpoint with
 * no preprocessor_config.json is an error that names both flags (the JS API's advice, "pass
 * { processor }", means nothing on a command line).
 * @module
 */
import { BeitError } from './errors.js';
import type { HubOptions } from './hub.js';
import { BeitImageProcessor, type BeitImageProcessorOptions } from './processor.js';

/** What the CLI's flags ask for. */
export interface ProcessorChoice {
  /** `--processor`: a checkpoint directory or repo id whose preprocessor_config.json to use. */
  processor?: string | undefined;
  /** `--default-processor`: HF's defaults when the checkpoint has no preprocessor_config.json. */
  defaultProcessor: boolean;
}

/** HF's `BeitImageProcessor()` resizes to 256x256 and crops 224x224: this ratio, kept for other sizes. */
const RESIZE_PER_CROP = 256 / 224;

/** The side `--default-processor` resizes to before cropping to `imageSize`. */
function defaultResize(imageSize: number): number {
  return Math.round(imageSize * RESIZE_PER_CROP);
}

/**
 * HF's `BeitImageProcessor` defaults (bicubic resize, centre crop, rescale by 1/255, mean and std
 * 0.5) with the crop at the model's `imageSize` and the resize before it in HF's 256:224 ratio:
 * HF's own 256 / 224 for a 224 model. HF's fixed 224 would feed a 384 or 512 model the wrong size.
 */
export function defaultProcessorOptions(imageSize: number): BeitImageProcessorOptions {
  const resized = defaultResize(imageSize);
  return {
    size: { height: resized, width: resized },
    resample: 3,
    doCenterCrop: true,
    cropSize: { height: imageSize, width: imageSize },
    imageMean: [0.5, 0.5, 0.5],
    imageStd: [0.5, 0.5, 0.5],
  };
}

/** What to say when the checkpoint has no processor and no flag gives one. */
export function noProcessorMessage(model: string): string {
  return (
    `${model} has no preprocessor_config.json to process images with: pass --processor <dir|repo> ` +
    '(a checkpoint whose preprocessor_config.json suits this model, e.g. the one it was fine-tuned from), ' +
    "or --default-processor (HF's BeitImageProcessor defaults at the model's image size)"
  );
}

async function fromFlag(source: string, hub: HubOptions): Promise<BeitImageProcessor> {
  try {
    return await BeitImageProcessor.fromPretrained(source, hub);
  } catch (err) {
    if (!(err instanceof BeitError) || err.code !== 'E_CONFIG') throw err;
    // The JS API's advice ("build the processor from options") replaced by the CLI's.
    const reason = err.message.replace(/: pass .*$/, '');
    const advice = 'give a checkpoint directory or repo id with a preprocessor_config.json, or --default-processor';
    throw new BeitError('E_CONFIG', `--processor ${source}: ${reason}: ${advice}`, { cause: err });
  }
}

/**
 * The processor for `model`, chosen as the module header says; `warn` receives the one-line warning
 * that `--default-processor` prints when it is used.
 * @throws BeitError `E_CONFIG` when there is none (the message names both flags), or the one
 *   `--processor` names cannot be read.
 */
export async function chooseProcessor(
  model: { processor: BeitImageProcessor | undefined; config: { imageSize: number } },
  modelName: string,
  choice: ProcessorChoice,
  hub: HubOptions,
  warn: (line: string) => void,
): Promise<BeitImageProcessor> {
  if (choice.processor !== undefined) return fromFlag(choice.processor, hub);
  if (model.processor) return model.processor;
  if (!choice.defaultProcessor) throw new BeitError('E_CONFIG', noProcessorMessage(modelName));
  const { imageSize } = model.config;
  const resized = defaultResize(imageSize);
  warn(
    `beit: warning: ${modelName} has no preprocessor_config.json; using HF's BeitImageProcessor defaults ` +
      `(bicubic resize to ${resized}x${resized}, centre crop ${imageSize}x${imageSize}, mean and std 0.5): ` +
      'predictions may be off if the model was trained with other settings',
  );
  return new BeitImageProcessor(defaultProcessorOptions(imageSize));
}
