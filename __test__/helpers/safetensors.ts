// A reader for the reference data's .safetensors files (header JSON, then raw little-endian data),
// so the tests need no Python and no extra package.
import { readFileSync } from 'node:fs';

export interface StoredTensor {
  dtype: string;
  dims: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

function decode(dtype: string, bytes: Uint8Array): StoredTensor['data'] {
  // A copy with its own ArrayBuffer (Buffer.slice would share the whole file), aligned for typed views.
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  switch (dtype) {
    case 'F32':
      return new Float32Array(copy.buffer);
    case 'I64': {
      const wide = new BigInt64Array(copy.buffer);
      return Int32Array.from(wide, (v) => Number(v));
    }
    case 'U8':
    case 'BOOL':
      return copy;
    default:
      throw new Error(`unsupported dtype ${dtype} in test data`);
  }
}

export function readSafetensors(path: string): Map<string, StoredTensor> {
  const file = readFileSync(path);
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + headerLength;
  const tensors = new Map<string, StoredTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [start, end] = info.data_offsets;
    tensors.set(name, {
      dtype: info.dtype,
      dims: info.shape,
      data: decode(info.dtype, file.subarray(base + start, base + end)),
    });
  }
  return tensors;
}
