/**
 * `LoadOptions`: the one options type of every `fromPretrained` / `fromConfig`.
 * @module
 */

/**
 * Where a model runs: `'cpu'`, `'cuda'` (device 0), `'cuda:N'`, or `'auto'`: the GPU when the CUDA build
 * sees one, else the CPU (the choice is `model.device`, and `cudaInfo().auto` beforehand).
 */
export type DeviceName = 'cpu' | 'cuda' | `cuda:${number}` | 'auto';

/**
 * The precision a model computes in. `'q8'` (CPU only) runs the encoder's linear layers in int8
 * (weights per output channel, activations per token, as transformers.js's `q8` does with
 * onnxruntime's dynamic quantization) and everything else in float32: faster, with logits within
 * about 1-3% of float32's (bench/README.md states the cost measured).
 */
export type DTypeName = 'float32' | 'float16' | 'bfloat16' | 'q8';

import type { HubOptions } from './hub.js';

/**
 * Options for loading a model: where it runs, and (for repo ids) the `HubOptions` of the download.
 *
 * @example
 * ```ts
 * await BeitModel.fromPretrained(dir, { device: 'cpu', dtype: 'float32' });
 * ```
 */
export interface LoadOptions extends HubOptions {
  /** Default `'cpu'`. `'auto'` picks the GPU when one is usable; `'cuda'` fails where none is. */
  device?: DeviceName;
  /** Default `'float32'`. */
  dtype?: DTypeName;
  /** How the model's request queue joins concurrent calls into batches. */
  batching?: BatchingOptions;
  /**
   * CPU threads of this model alone, 1 to 1024: its forward passes run on a pool of its own, so that
   * models loaded side by side each keep their share of the cores. Not given: the pool every such model
   * shares, of `BEIT_NUM_THREADS` threads where that is set (read once, at the first call), else one
   * per core (`cpuInfo().threads`). Image decoding and resizing use the shared pool either way.
   */
  threads?: number;
}

/**
 * Concurrent `forward` / `classify` / `segment` calls wait in the model's queue; its inference thread
 * joins those of the same input size into one forward pass.
 */
export interface BatchingOptions {
  /** Images per forward pass, at most. Default 8 (64 on CUDA). */
  maxBatchSize?: number;
  /** How long a lone request waits for others to join it, in ms. Default 2 (5 on CUDA). */
  maxWaitMs?: number;
  /** Requests allowed to wait; beyond it calls fail with `E_OVERLOADED`. Default 256 (1024 on CUDA). */
  maxQueue?: number;
}
