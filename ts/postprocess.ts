/**
 * Post-processing of model outputs, as HF's `BeitImageProcessor` and `DPTImageProcessor` do it.
 * @module
 */
import { BeitError, callNative } from './errors.js';
import type { RawImage } from './image_input.js';
import { native } from './native.js';
import { checkTargetSizes } from './sizes.js';
import { Tensor } from './tensor.js';

/** One image's depth: the map at the image's size, and its 8-bit picture (HF's depth pipeline's `depth`). */
export interface DepthResult {
  /** float32 `[height, width]`: relative inverse depth, larger is nearer. */
  predictedDepth: Tensor;
  /** One channel, 0 at the farthest point and 255 at the nearest (the map's min and max). */
  depth: RawImage & {
    /** One channel: the picture is grayscale. */
    channels: 1;
  };
}

/**
 * Turns predicted depth into one map per image, resized (bicubic, as HF's
 * `post_process_depth_estimation`) to `targetSizes[i]` (`[height, width]`) or left at the model's
 * resolution, each with its 8-bit picture as HF's depth-estimation pipeline makes it. Runs off the JS thread.
 *
 * @example
 * ```ts
 * const out = await dpt.forward({ pixelValues });
 * const [{ predictedDepth, depth }] = await postProcessDepthEstimation(out, [[image.height, image.width]]);
 * ```
 * @throws BeitError `E_SHAPE` when the depth is not `[batch, height, width]` or the sizes do not match the batch;
 *   `E_INVALID_ARGUMENT` when a height or width is not an integer from 1 to 2^31.
 */
export async function postProcessDepthEstimation(
  outputs: { predictedDepth: Tensor },
  targetSizes?: readonly (readonly [number, number])[],
): Promise<DepthResult[]> {
  const depth = outputs?.predictedDepth;
  if (!(depth instanceof Tensor) || depth.dtype !== 'float32') {
    throw new BeitError('E_SHAPE', 'postProcessDepthEstimation needs { predictedDepth: float32 Tensor }');
  }
  checkTargetSizes(targetSizes);
  const sizes = targetSizes?.map((s) => [...s]);
  const results = await callNative(() => native.postProcessDepthEstimationNative(depth.toNative(), sizes));
  return results.map(({ predictedDepth, depth: picture }) => {
    const [height = 0, width = 0] = predictedDepth.dims;
    return {
      predictedDepth: Tensor.fromNative(predictedDepth),
      depth: { data: picture, width, height, channels: 1 },
    };
  });
}

/**
 * Turns segmentation logits into one int32 label map per image: resized bilinearly to
 * `targetSizes[i]` (`[height, width]`) and arg-maxed over classes, or at the logits' own
 * resolution (H/4 x W/4 for patch size 16) when no sizes are given. Runs off the JS thread.
 *
 * @example
 * ```ts
 * const out = await segmenter.forward({ pixelValues });
 * const [map] = await postProcessSemanticSegmentation(out, [[image.height, image.width]]);
 * map.dims; // [image.height, image.width]
 * ```
 * @throws BeitError `E_SHAPE` when the logits are not `[batch, classes, h, w]` or the sizes do not match the batch;
 *   `E_INVALID_ARGUMENT` when a height or width is not an integer from 1 to 2^31.
 */
export async function postProcessSemanticSegmentation(
  outputs: { logits: Tensor },
  targetSizes?: readonly (readonly [number, number])[],
): Promise<Tensor[]> {
  const logits = outputs?.logits;
  if (!(logits instanceof Tensor) || logits.dtype !== 'float32') {
    throw new BeitError('E_SHAPE', 'postProcessSemanticSegmentation needs { logits: float32 Tensor }');
  }
  checkTargetSizes(targetSizes);
  const sizes = targetSizes?.map((s) => [...s]);
  const maps = await callNative(() => native.postProcessSemanticSegmentationNative(logits.toNative(), sizes));
  return maps.map((m) => new Tensor(m.data, m.dims));
}
