// The checks of ts/sizes.ts: sizes and counts refused before napi-rs would wrap them modulo 2^32 or
// truncate them into the addon's u32s. Pure TypeScript: no addon needed.
import { describe, expect, it } from 'vitest';
import { BeitError } from '../ts/errors.js';
import {
  checkBatching,
  checkMaxPixels,
  checkSize,
  checkTargetSizes,
  checkTopK,
  isSize,
  MAX_SIZE,
} from '../ts/sizes.js';

/** What napi-rs would hand Rust: wrapped, truncated, or NaN as 0. Each must be refused. */
const BAD = [2 ** 32 + 10, 2 ** 32, 2 ** 31 + 1, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY];

/** A BeitError with `code`, and a message equal to a string or matching a RegExp. */
const refused = (code: string, message: RegExp | string) =>
  expect.objectContaining({ code, message: typeof message === 'string' ? message : expect.stringMatching(message) });

describe('checkSize', () => {
  it('returns an integer from min to max, 1 to 2^31 by default', () => {
    expect(MAX_SIZE).toBe(2 ** 31);
    for (const good of [1, 8, 2 ** 31]) expect(checkSize('n', good)).toBe(good);
    expect(checkSize('n', 0, 0)).toBe(0);
    expect(checkSize('n', 2 ** 40, 1, Number.MAX_SAFE_INTEGER)).toBe(2 ** 40);
  });

  it('refuses the rest with E_INVALID_ARGUMENT naming the field, the value and the range', () => {
    for (const bad of [...BAD, 0]) {
      const err = (() => {
        try {
          checkSize('maxThings', bad);
        } catch (e) {
          return e;
        }
      })();
      expect(err, String(bad)).toBeInstanceOf(BeitError);
      expect(err).toMatchObject({
        code: 'E_INVALID_ARGUMENT',
        message: `maxThings must be an integer from 1 to 2147483648, got ${bad}`,
      });
    }
    expect(() => checkSize('n', '8')).toThrow(refused('E_INVALID_ARGUMENT', /got "8"$/));
    expect(() => checkSize('n', 8n)).toThrow(refused('E_INVALID_ARGUMENT', /got bigint$/));
    expect(() => checkSize('n', null)).toThrow(refused('E_INVALID_ARGUMENT', /got null$/));
    expect(() => checkSize('n', 5, 0, 4, 'E_SHAPE')).toThrow(refused('E_SHAPE', /from 0 to 4, got 5$/));
    expect(isSize(3)).toBe(true);
    expect(isSize(2 ** 32 + 10)).toBe(false);
  });
});

describe('checkBatching', () => {
  it('takes maxBatchSize and maxQueue from 1 to 2^31, and leaves maxWaitMs to the addon', () => {
    expect(() => checkBatching()).not.toThrow();
    expect(() => checkBatching({})).not.toThrow();
    expect(() => checkBatching({ maxBatchSize: 1, maxQueue: 2 ** 31, maxWaitMs: 2.5 })).not.toThrow();
    expect(() => checkBatching({ maxBatchSize: null, maxQueue: undefined } as never)).not.toThrow();
    for (const bad of [...BAD, 0]) {
      expect(() => checkBatching({ maxBatchSize: bad }), String(bad)).toThrow(
        refused('E_INVALID_ARGUMENT', `batching.maxBatchSize must be an integer from 1 to 2147483648, got ${bad}`),
      );
      expect(() => checkBatching({ maxBatchSize: 4, maxQueue: bad }), String(bad)).toThrow(
        refused('E_INVALID_ARGUMENT', /^batching\.maxQueue must be/),
      );
    }
  });
});

describe('checkMaxPixels', () => {
  it('takes an integer from 1 to 2^53 - 1 (the addon keeps a u64, so large values do not wrap)', () => {
    for (const good of [undefined, 1, 178_956_970, 2 ** 32 + 10, Number.MAX_SAFE_INTEGER]) {
      expect(() => checkMaxPixels(good), String(good)).not.toThrow();
    }
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => checkMaxPixels(bad), String(bad)).toThrow(
        refused('E_INVALID_ARGUMENT', `maxPixels must be an integer from 1 to 9007199254740991, got ${bad}`),
      );
    }
  });
});

describe('checkTopK', () => {
  it('takes an integer from 1 to 2^31', () => {
    for (const good of [undefined, 1, 5, 2 ** 31]) expect(() => checkTopK(good)).not.toThrow();
    for (const bad of [...BAD, 0]) {
      expect(() => checkTopK(bad), String(bad)).toThrow(refused('E_INVALID_ARGUMENT', /^topK must be an integer/));
    }
  });
});

describe('checkTargetSizes', () => {
  it('takes [height, width] pairs of integers from 1 to 2^31, naming the entry it refuses', () => {
    expect(() => checkTargetSizes(undefined)).not.toThrow();
    expect(() => checkTargetSizes([[1, 2 ** 31]])).not.toThrow();
    for (const bad of [...BAD, 0]) {
      expect(
        () =>
          checkTargetSizes([
            [4, 4],
            [4, bad],
          ]),
        String(bad),
      ).toThrow(refused('E_INVALID_ARGUMENT', `targetSizes[1][1] must be an integer from 1 to 2147483648, got ${bad}`));
    }
    expect(() => checkTargetSizes([4 as never])).toThrow(refused('E_INVALID_ARGUMENT', /targetSizes\[0\] must be/));
  });
});
