/**
 * Post-processing of model outputs, as HF's `BeitImageProcessor` does it.
 * @module
 */
import { BeitError, callNative } from './errors.js';
import { native } from './native.js';
import { Tensor } from './tensor.js';

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
 * @throws BeitError `E_SHAPE` when the logits are not `[batch, classes, h, w]` or the sizes do not match the batch.
 */
export async function postProcessSemanticSegmentation(
  outputs: { logits: Tensor },
  targetSizes?: readonly (readonly [number, number])[],
): Promise<Tensor[]> {
  const logits = outputs?.logits;
  if (!(logits instanceof Tensor) || logits.dtype !== 'float32') {
    throw new BeitError('E_SHAPE', 'postProcessSemanticSegmentation needs { logits: float32 Tensor }');
  }
  const sizes = targetSizes?.map((s) => [...s]);
  const maps = await callNative(() => native.postProcessSemanticSegmentationNative(logits.toNative(), sizes));
  return maps.map((m) => new Tensor(m.data, m.dims));
}
