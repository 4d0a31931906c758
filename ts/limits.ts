/**
 * Process-wide bounds on what one input may cost, for the two a user can legitimately need more of.
 * Every other bound (config sizes, processor sizes, decoded pixels via `maxPixels`, post-processing
 * targets) is fixed or per processor; SECURITY.md lists them all.
 * @module
 */
import { callNativeSync } from './errors.js';
import { native } from './native.js';

/** The bounds `setLimits` changes. */
export interface Limits {
  /**
   * Tokens (patches + CLS) per image. Default 4097: a 64x64 patch grid, 1024x1024 pixels at patch
   * size 16. Attention memory grows with its square.
   */
  maxTokens: number;
  /** Bytes of attention probabilities one forward pass may return (`outputAttentions`). Default 2 GiB. */
  maxAttentionBytes: number;
}

/**
 * The limits in force.
 *
 * @example
 * ```ts
 * import { getLimits } from 'beit-node';
 * console.log(getLimits().maxTokens); // 4097
 * ```
 */
export function getLimits(): Limits {
  return native.getLimits();
}

/**
 * Changes the limits given, for every model in this process; the others stay.
 * @throws BeitError `E_INVALID_ARGUMENT` for a value that is not a whole number (or `maxTokens` under 2).
 *
 * @example
 * ```ts
 * import { setLimits } from 'beit-node';
 * setLimits({ maxTokens: 128 * 128 + 1 }); // inputs up to 2048x2048 at patch size 16
 * ```
 */
export function setLimits(limits: Partial<Limits>): void {
  callNativeSync(() => native.setLimits(limits.maxTokens, limits.maxAttentionBytes));
}
