/**
 * Whole-number sizes and counts checked before they reach the addon. napi-rs converts a JS number to
 * a Rust `u32` modulo 2^32 (2^32 + 10 arrives as 10, -1 as 4294967295, NaN as 0) and drops any
 * fraction, so an unusable value would otherwise run as a different, plausible one. Each check
 * throws a `BeitError` naming the field, the value and the valid range.
 * @module
 */
import { BeitError, type BeitErrorCode } from './errors.js';
import type { BatchingOptions } from './options.js';

/** The largest size or count taken where the addon reads a `u32`: 2^31, far inside its range. */
export const MAX_SIZE = 2 ** 31;

/** How a refused value reads in a message: numbers as JS prints them, strings quoted, else the type. */
function show(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return value === null ? 'null' : typeof value;
}

/** Whether `value` is an integer (a number, not a string) from `min` to `max`. */
export function isSize(value: unknown, min = 1, max = MAX_SIZE): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/**
 * `value`, if it is an integer from `min` to `max` (default 1 to 2^31).
 * @throws BeitError `code` (default `E_INVALID_ARGUMENT`) naming `name`, the value and the range.
 */
export function checkSize(
  name: string,
  value: unknown,
  min = 1,
  max = MAX_SIZE,
  code: BeitErrorCode = 'E_INVALID_ARGUMENT',
): number {
  if (!isSize(value, min, max)) {
    throw new BeitError(code, `${name} must be an integer from ${min} to ${max}, got ${show(value)}`);
  }
  return value;
}

/** {@link checkSize} of an optional field: `undefined` and `null` (the addon's "not given") pass. */
function checkOptional(name: string, value: unknown, min = 1, max = MAX_SIZE): void {
  if (value !== undefined && value !== null) checkSize(name, value, min, max);
}

/**
 * `LoadOptions.batching`: `maxBatchSize` and `maxQueue` (the addon's `u32`) must be integers from 1
 * to 2^31 where given. `maxWaitMs` is left to the addon, which takes it as a float and checks it.
 * @throws BeitError `E_INVALID_ARGUMENT` naming the field.
 */
export function checkBatching(batching?: BatchingOptions | null): void {
  if (batching === undefined || batching === null) return;
  checkOptional('batching.maxBatchSize', batching.maxBatchSize);
  checkOptional('batching.maxQueue', batching.maxQueue);
}

/**
 * `LoadOptions.threads`: an integer from 1 to 1024 where given (the addon's limit; a `u32` would wrap
 * negatives and drop fractions).
 * @throws BeitError `E_INVALID_ARGUMENT`.
 */
export function checkThreads(threads?: number | null): void {
  checkOptional('threads', threads, 1, 1024);
}

/**
 * `maxPixels` of `BeitImageProcessor`: an integer from 1 (0 would refuse every image) to
 * `Number.MAX_SAFE_INTEGER`. The addon takes it as a float and keeps it as a u64, so large values
 * do not wrap, but it clamps negatives and NaN to 0 and drops fractions without a word.
 * @throws BeitError `E_INVALID_ARGUMENT`.
 */
export function checkMaxPixels(maxPixels?: number | null): void {
  checkOptional('maxPixels', maxPixels, 1, Number.MAX_SAFE_INTEGER);
}

/**
 * `topK` of `classify` and the image-classification pipeline: an integer from 1 to 2^31 (more than
 * the model has classes gives them all). Not given: the default, 5.
 * @throws BeitError `E_INVALID_ARGUMENT`.
 */
export function checkTopK(topK?: number | null): void {
  checkOptional('topK', topK);
}

/**
 * `targetSizes` of post-processing: each `[height, width]` entry an integer from 1 to 2^31 (the
 * addon's `u32`). Pairs of another length, and sizes over its pixel limit, are the addon's to refuse.
 * @throws BeitError `E_INVALID_ARGUMENT` naming the entry.
 */
export function checkTargetSizes(targetSizes: readonly (readonly number[])[] | undefined): void {
  if (targetSizes === undefined || targetSizes === null) return;
  for (const [i, size] of Array.from(targetSizes).entries()) {
    if (!Array.isArray(size)) {
      throw new BeitError('E_INVALID_ARGUMENT', `targetSizes[${i}] must be [height, width], got ${show(size)}`);
    }
    for (const [j, side] of size.entries()) checkSize(`targetSizes[${i}][${j}]`, side);
  }
}
