import { describe, expect, it } from 'vitest';
import { BeitError, Tensor } from '../ts/index.js';

describe('Tensor', () => {
  it('infers the dtype from the typed array', () => {
    expect(new Tensor(new Float32Array(6), [2, 3]).dtype).toBe('float32');
    expect(new Tensor(new Int32Array(2), [2]).dtype).toBe('int32');
    expect(new Tensor(new Uint8Array(4), [1, 4]).dtype).toBe('uint8');
  });

  it('keeps the data without copying and freezes the dims', () => {
    const data = new Float32Array([1, 2, 3, 4]);
    const t = new Tensor(data, [2, 2]);
    expect(t.data).toBe(data);
    expect(t.size).toBe(4);
    expect(Object.isFrozen(t.dims)).toBe(true);
  });

  it('rejects dims that do not match the data', () => {
    expect(() => new Tensor(new Float32Array(5), [2, 3])).toThrow(/describe 6 elements, but the data has 5/);
    expect(() => new Tensor(new Float32Array(0), [-1])).toThrow(BeitError);
    expect(() => new Tensor(new Float32Array(1), [0.5, 2])).toThrow(/non-negative integers/);
  });

  it('refuses dims the addon would wrap or truncate (it takes each as a u32), with E_SHAPE', () => {
    // A zero dim keeps the data empty, so only the range check can refuse these.
    for (const bad of [2 ** 32 + 10, 2 ** 32, 2 ** 31 + 1, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new Tensor(new Float32Array(0), [bad, 0]), String(bad)).toThrow(
        expect.objectContaining({ code: 'E_SHAPE', message: expect.stringMatching(/up to 2147483648, got \[/) }),
      );
    }
    expect(new Tensor(new Float32Array(0), [2 ** 31, 0]).dims).toEqual([2 ** 31, 0]);
    expect(new Tensor(new Float32Array(0), [0]).toNative().dims).toEqual([0]);
  });

  it('rejects other array types', () => {
    expect(() => new Tensor(new Float64Array(2) as unknown as Float32Array, [2])).toThrow(/Float32Array/);
  });

  it('hands the addon a byte view of the same memory', () => {
    const data = new Float32Array([1, 2, 3, 4]).subarray(1);
    const native = new Tensor(data, [3]).toNative();
    expect(native.data.byteLength).toBe(12);
    expect(native.data.buffer).toBe(data.buffer);
    expect(native.data.byteOffset).toBe(4);
  });
});
