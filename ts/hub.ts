/**
 * Model names to directories: a local checkpoint directory, or a HuggingFace repo id found in the
 * cache that Python's `huggingface_hub` shares (`HF_HUB_CACHE`, `HF_HOME`, `~/.cache/huggingface/hub`).
 * @module
 */
import { callNativeSync } from './errors.js';
import { native } from './native.js';

/** Where to look for a repo id. */
export interface HubOptions {
  /** Branch, tag or commit hash. Default `'main'`. */
  revision?: string;
  /** The hub cache directory. Default: as `huggingface_hub` resolves it. */
  cacheDir?: string;
}

/**
 * Resolves a directory or a repo id (e.g. `'microsoft/beit-base-patch16-224'`) to a local directory.
 * @throws BeitError `E_NOT_FOUND` when it is neither a directory nor cached, saying how to get it.
 */
export function resolveModelDir(nameOrDir: string, options: HubOptions = {}): string {
  return callNativeSync(() => native.resolveModelDir(nameOrDir, options.revision, options.cacheDir));
}
