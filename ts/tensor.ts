/**
 * `Tensor`: a typed array plus its dims, the currency of every model call.
 * @module
 */
import { BeitError } from './errors.js';
import type { NativeTensor, NativeTensorInput } from './native.js';
import { isSize, MAX_SIZE } from './sizes.js';

/** The element types a Tensor can hold. */
export type TensorDataType = 'float32' | 'int32' | 'uint8';

/** The typed arrays a Tensor can hold. */
export type TensorData = Float32Array | Int32Array | Uint8Array;

function dtypeOf(data: TensorData): TensorDataType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint8Array) return 'uint8';
  throw new BeitError('E_SHAPE', 'Tensor data must be a Float32Array, Int32Array or Uint8Array');
}

/**
 * A dense, row-major tensor.
 *
 * @example
 * ```ts
 * const pixels = new Tensor(new Float32Array(1 * 3 * 224 * 224), [1, 3, 224, 224]);
 * pixels.dtype; // 'float32'
 * ```
 */
export class Tensor {
  /** The elements, row-major. */
  readonly data: TensorData;
  /** The size of each dimension. */
  readonly dims: readonly number[];
  /** The element type, from the typed array. */
  readonly dtype: TensorDataType;

  /**
   * @throws BeitError `E_SHAPE` when a dim is not an integer from 0 to 2^31 (the addon takes each as
   *   a `u32`, which a larger number would wrap) or the dims do not describe exactly `data.length` elements.
   */
  constructor(data: TensorData, dims: readonly number[]) {
    this.dtype = dtypeOf(data);
    if (!dims.every((d) => isSize(d, 0))) {
      throw new BeitError('E_SHAPE', `Tensor dims must be non-negative integers up to ${MAX_SIZE}, got [${dims}]`);
    }
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      throw new BeitError(
        'E_SHAPE',
        `Tensor dims [${dims}] describe ${size} elements, but the data has ${data.length}`,
      );
    }
    this.data = data;
    this.dims = Object.freeze([...dims]);
  }

  /** The number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** @internal The tensor as the addon takes it: a byte view of the same memory, no copy. */
  toNative(): NativeTensorInput {
    const { buffer, byteOffset, byteLength } = this.data;
    return {
      dtype: this.dtype,
      dims: [...this.dims],
      data: Buffer.from(buffer, byteOffset, byteLength),
    };
  }

  /** @internal Wraps a tensor returned by the addon (its Float32Array is used as is). */
  static fromNative(t: NativeTensor): Tensor {
    return new Tensor(t.data, t.dims);
  }
}
