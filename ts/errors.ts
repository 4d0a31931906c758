/**
 * `BeitError`: every failure of beit-node, with a stable `code` to branch on.
 * @module
 */

/** Stable error codes; the message says what was wrong and what to do. */
export type BeitErrorCode =
  | 'E_CONFIG'
  | 'E_WEIGHTS'
  | 'E_SHAPE'
  | 'E_INVALID_ARGUMENT'
  | 'E_IMAGE'
  | 'E_NOT_FOUND'
  | 'E_NETWORK'
  | 'E_HUB'
  | 'E_CACHE'
  | 'E_OVERLOADED'
  | 'E_ABORTED'
  | 'E_TIMEOUT'
  | 'E_CUDA_UNAVAILABLE'
  | 'E_IO'
  | 'E_COMPUTE'
  | 'E_NATIVE_BINDING'
  | 'E_INTERNAL';

/**
 * An error raised by beit-node.
 *
 * @example
 * ```ts
 * try {
 *   await BeitModel.fromPretrained('./no-such-dir');
 * } catch (err) {
 *   if (err instanceof BeitError && err.code === 'E_CONFIG') console.error(err.message);
 * }
 * ```
 */
export class BeitError extends Error {
  /** What kind of failure this is. */
  readonly code: BeitErrorCode;

  constructor(code: BeitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BeitError';
    this.code = code;
  }

  /** Converts an error thrown by the addon (`[E_CODE] message`) into a `BeitError`. */
  static fromNative(err: unknown): BeitError {
    if (err instanceof BeitError) return err;
    const message = err instanceof Error ? err.message : String(err);
    const match = /^\[(E_[A-Z_]+)\] ([\s\S]*)$/.exec(message);
    if (match?.[1] && match[2] !== undefined) {
      return new BeitError(match[1] as BeitErrorCode, match[2], { cause: err });
    }
    return new BeitError('E_INTERNAL', message, { cause: err });
  }
}

/** Runs a call into the addon and rethrows its failures as `BeitError`. */
export async function callNative<T>(call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw BeitError.fromNative(err);
  }
}

/** The synchronous form of {@link callNative}. */
export function callNativeSync<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw BeitError.fromNative(err);
  }
}
