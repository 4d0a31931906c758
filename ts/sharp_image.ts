/**
 * Images held by [sharp](https://sharp.pixelplumbing.com): a sharp instance, or what its
 * `toBuffer({ resolveWithObject: true })` resolves with. sharp stays an optional peer: it is never
 * imported here, only recognised by shape, so nothing of it loads unless the caller passes one.
 * @module
 */

/** What sharp's `toBuffer({ resolveWithObject: true })` resolves with: the bytes and their geometry. */
export interface SharpOutput {
  /** Decoded pixels (format `'raw'`) or an encoded file. */
  data: Uint8Array;
  /** What sharp says of `data`. */
  info: {
    /** `'raw'` for decoded pixels (after `.raw()`); an encoded format's name otherwise. */
    format?: string;
    /** Pixels per row. */
    width: number;
    /** Rows. */
    height: number;
    /** 1 to 4 (grey, grey and alpha, RGB, RGBA). */
    channels: number;
  };
}

/** The part of a sharp instance beit-node uses (so no type of sharp's is needed to pass one). */
export interface SharpInstance {
  /** A new instance on the same input (beit-node reads a clone, never the caller's instance). */
  clone(): SharpInstance;
  /** Output decoded pixels. */
  raw(): SharpInstance;
  /** The input's header. */
  metadata(): Promise<unknown>;
  /** Runs the pipeline. */
  toBuffer(options: { resolveWithObject: true }): Promise<SharpOutput>;
}

/** 8-bit pixels in one of the layouts the addon takes. */
export interface SharpPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

const isFunction = (value: unknown): boolean => typeof value === 'function';

/** Whether `value` is a sharp instance (it has sharp's methods). */
export function isSharpInstance(value: unknown): value is SharpInstance {
  const v = value as Partial<Record<keyof SharpInstance, unknown>> | null;
  return typeof v === 'object' && v !== null && [v.clone, v.raw, v.metadata, v.toBuffer].every(isFunction);
}

/** Whether `value` is sharp's `{ data, info }`. */
export function isSharpOutput(value: unknown): value is SharpOutput {
  const v = value as Partial<SharpOutput> | null;
  return (
    typeof v === 'object' && v !== null && ArrayBuffer.isView(v.data) && typeof v.info === 'object' && v.info !== null
  );
}

/**
 * The instance's pixels as sharp decodes them, with every operation the caller chained (resize,
 * rotate, ...). A clone is read, so the caller's instance keeps its own output settings.
 */
export async function sharpInstancePixels(image: SharpInstance): Promise<SharpPixels> {
  const out = await image.clone().raw().toBuffer({ resolveWithObject: true });
  return rawPixels(out);
}

/**
 * sharp's raw output as 8-bit grey, RGB or RGBA pixels. Grey with alpha (2 channels) keeps the grey:
 * Pillow's `convert('RGB')` of an `LA` image drops the alpha too.
 * @throws Error when the bytes do not match the geometry (16-bit output, for example).
 */
export function rawPixels({ data, info }: SharpOutput): SharpPixels {
  const { width, height, channels } = info;
  const expected = width * height * channels;
  if (data.byteLength !== expected) {
    throw new Error(
      `sharp's raw output holds ${data.byteLength} bytes, but ${width}x${height}x${channels} 8-bit pixels need ${expected} (16-bit output is not taken: drop toColourspace('rgb16') or depth)`,
    );
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (channels === 1 || channels === 3 || channels === 4) return { data: bytes, width, height, channels };
  if (channels === 2) return { data: bytes.filter((_, i) => i % 2 === 0), width, height, channels: 1 };
  throw new Error(`sharp's raw output has ${channels} channels; 1 to 4 are taken`);
}
