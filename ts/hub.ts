/**
 * Model names to directories: a local checkpoint directory, or a HuggingFace repo id. Repo ids live
 * in the cache Python's `huggingface_hub` shares (`HF_HUB_CACHE`, `HF_HOME`, `~/.cache/huggingface/hub`);
 * what it lacks is downloaded from `HF_ENDPOINT` (default huggingface.co) with `HF_TOKEN`, unless
 * `HF_HUB_OFFLINE=1` or `localFilesOnly` forbids the network. A revision already cached is used
 * without asking the hub again; pass a commit hash as `revision` to pin one.
 * @module
 */
import { BeitError, callNative } from './errors.js';
import { native } from './native.js';

/** How far the download of one file has come. */
export interface DownloadProgress {
  /** The file's path in the repo, e.g. `'model.safetensors'`. */
  file: string;
  /** Bytes on disk so far (a resumed download starts where the last one stopped). */
  downloaded: number;
  /** The file's size in bytes. */
  total: number;
}

/** Where to find a repo id, and how to reach the hub. Unset fields follow the `HF_*` variables. */
export interface HubOptions {
  /** Branch, tag or commit hash. Default `'main'`. */
  revision?: string;
  /** The hub cache directory. Default: as `huggingface_hub` resolves it. */
  cacheDir?: string;
  /** The hub's base URL. Default `HF_ENDPOINT`, else `https://huggingface.co`. */
  endpoint?: string;
  /** Access token for private or gated repos. Default `HF_TOKEN`, else the saved `huggingface-cli login`. */
  token?: string;
  /** Use only the cache, never the network (as `HF_HUB_OFFLINE=1`). Default `false`. */
  localFilesOnly?: boolean;
  /** Called as files download: at the start, a few times a second, and at the end of each file. */
  onProgress?: (progress: DownloadProgress) => void;
}

/** Which files of a repo the caller is about to load. */
export type RepoFiles = 'model' | 'config' | 'processor';

/**
 * Resolves a directory or a repo id (e.g. `'microsoft/beit-base-patch16-224'`) to a local directory,
 * downloading the files that `files` needs if the cache lacks them.
 * @throws BeitError `E_NOT_FOUND` (no such directory, repo, revision or file; or not cached while
 *   offline), `E_NETWORK` (hub unreachable, transfer broken off: run again to resume), `E_HUB`
 *   (access refused), `E_CACHE` (cache not writable, stale partial file); each says what to do.
 */
export async function resolveModelDir(
  nameOrDir: string,
  options: HubOptions = {},
  files: RepoFiles = 'model',
): Promise<string> {
  const { revision, cacheDir, endpoint, token, localFilesOnly, onProgress } = options;
  let callbackError: unknown;
  // An exception escaping into the addon's thread-safe call would be fatal to the process: keep
  // the first one and reject with it once the download has settled.
  const report = onProgress
    ? (progress: DownloadProgress) => {
        try {
          onProgress(progress);
        } catch (err) {
          callbackError ??= err;
        }
      }
    : undefined;
  const dir = await callNative(() =>
    native.resolveModelDir(nameOrDir, files, { revision, cacheDir, endpoint, token, localFilesOnly }, report),
  );
  if (callbackError !== undefined) {
    throw new BeitError('E_INVALID_ARGUMENT', `the onProgress callback threw: ${String(callbackError)}`, {
      cause: callbackError,
    });
  }
  return dir;
}
