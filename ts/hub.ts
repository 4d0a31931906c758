/**
 * Model names to directories: a local checkpoint directory, or a HuggingFace repo id. Repo ids live
 * in the cache Python's `huggingface_hub` shares (`HF_HUB_CACHE`, `HF_HOME`, `~/.cache/huggingface/hub`);
 * what it lacks is downloaded from `HF_ENDPOINT` (default huggingface.co) with `HF_TOKEN`, unless
 * `HF_HUB_OFFLINE=1` or `localFilesOnly` forbids the network. A revision already cached is used
 * without asking the hub again; pass a commit hash as `revision` to pin one.
 *
 * The hub is not trusted: names it sends are checked before they become cache paths, every request
 * has a timeout and every transfer a stall timeout, the token goes only to the endpoint's own host
 * (over https, or plain http to this machine), and a file is linked into the cache only once its
 * size (and sha256, for LFS files) is what the hub announced.
 * @module
 */
import { abortable } from './abortable.js';
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
  /**
   * Aborts the call: it rejects with `signal.reason` at once, and the download itself stops at its
   * next chunk (within `stallTimeoutMs` on a stalled connection); the part received is kept, and the
   * next call resumes it.
   */
  signal?: AbortSignal;
  /** Connecting, and each metadata answer, at most this long. Default `HF_HUB_ETAG_TIMEOUT` (s), else 10 s. */
  requestTimeoutMs?: number;
  /** A transfer fails with `E_NETWORK` after this long without a byte. Default `HF_HUB_DOWNLOAD_TIMEOUT` (s), else 10 s. */
  stallTimeoutMs?: number;
  /** The longest wait for another download of the same file to finish. Default `BEIT_HUB_LOCK_TIMEOUT` (s), else 600 s. */
  lockTimeoutMs?: number;
  /**
   * Send the token over plain http to a host other than this machine (also `BEIT_HUB_TOKEN_OVER_HTTP=1`).
   * Default `false`: the token goes only over https, or to 127.0.0.1 / localhost.
   */
  tokenOverHttp?: boolean;
}

/** Which files of a repo the caller is about to load. */
export type RepoFiles = 'model' | 'config' | 'processor';

/**
 * Resolves a directory or a repo id (e.g. `'microsoft/beit-base-patch16-224'`) to a local directory,
 * downloading the files that `files` needs if the cache lacks them.
 * @throws BeitError `E_NOT_FOUND` (no such directory, repo, revision or file; or not cached while
 *   offline), `E_NETWORK` (hub unreachable, timed out or stalled, transfer broken off: run again to
 *   resume), `E_HUB` (access refused, or an answer that is not the hub's: a bad etag, commit or
 *   size, content that does not match its sha256), `E_CACHE` (cache not writable, stale partial
 *   file, another download holding the lock too long); each says what to do. `options.signal.reason`
 *   when aborted.
 *
 * @example
 * ```ts
 * import { resolveModelDir } from 'beit-node';
 * const dir = await resolveModelDir('microsoft/beit-base-patch16-224', {
 *   onProgress: ({ file, downloaded, total }) => console.log(file, downloaded, total),
 * });
 * ```
 */
export async function resolveModelDir(
  nameOrDir: string,
  options: HubOptions = {},
  files: RepoFiles = 'model',
): Promise<string> {
  const { revision, cacheDir, endpoint, token, localFilesOnly, onProgress, signal } = options;
  const { requestTimeoutMs, stallTimeoutMs, lockTimeoutMs, tokenOverHttp } = options;
  signal?.throwIfAborted();
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
  const nativeOptions = {
    revision,
    cacheDir,
    endpoint,
    token,
    localFilesOnly,
    requestTimeoutMs,
    stallTimeoutMs,
    lockTimeoutMs,
    tokenOverHttp,
  };
  const cancel = signal ? new native.NativeHubCancel() : undefined;
  const pending = callNative(() => native.resolveModelDir(nameOrDir, files, nativeOptions, report, cancel));
  // On abort the download's thread stops at its next check; its own E_ABORTED is then dropped.
  const dir = await (signal && cancel ? abortable(pending, signal, () => cancel.cancel()) : pending);
  if (callbackError !== undefined) {
    throw new BeitError('E_INVALID_ARGUMENT', `the onProgress callback threw: ${String(callbackError)}`, {
      cause: callbackError,
    });
  }
  return dir;
}
