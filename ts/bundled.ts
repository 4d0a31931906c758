/**
 * Models that ship inside the package, so the API and the CLI do real work with no network.
 * @module
 */
import { fileURLToPath } from 'node:url';

/** The names of the bundled models. */
export type BundledModel = 'beit-digits';

/**
 * The checkpoint directory of a bundled model, to pass to `fromPretrained`. `'beit-digits'` is a
 * small BEiT classifier of handwritten digits (white on black), trained on scikit-learn's digits;
 * see its `README.md` for how it was trained and how well it does.
 *
 * @example
 * ```ts
 * import { BeitForImageClassification, bundledModelDir } from 'beit-node';
 * const model = await BeitForImageClassification.fromPretrained(bundledModelDir('beit-digits'));
 * ```
 */
export function bundledModelDir(name: BundledModel = 'beit-digits'): string {
  // dist/bundled.js and ts/bundled.ts both sit one level below the package root.
  return fileURLToPath(new URL(`../models/${name}`, import.meta.url));
}
