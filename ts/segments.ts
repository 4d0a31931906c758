/**
 * A label map as HF's semantic segmentation pipeline gives it: one `{ label, score: null, mask }` per
 * class present, shared by `pipeline('image-segmentation')` and the queue worker's results.
 * @module
 */
import type { RawImage } from './image_input.js';
import type { Tensor } from './tensor.js';

/** One class present in a semantic segmentation: HF's `{ label, score: null, mask }`, the mask 255 where
 * the class is and 0 elsewhere, one channel, at the input image's size. */
export interface SegmentationResult {
  /** The class's name (`id2label`), or `LABEL_<id>` when the config has none. */
  label: string;
  /** Always null, as in HF: semantic segmentation scores no class. */
  score: null;
  /** 255 where the class is and 0 elsewhere, at the input image's size. */
  mask: RawImage & {
    /** One channel: the mask is grayscale. */
    channels: 1;
  };
}

/** Each class present in one int32 `[height, width]` label map, with its mask, in class order (as HF). */
export function segments(map: Tensor, id2label: Record<string, string>): SegmentationResult[] {
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
