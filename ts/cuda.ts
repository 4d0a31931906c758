/**
 * CUDA in this process: whether the addon that loaded is the CUDA build, the GPUs it sees, and why
 * not when it is not; and the check that turns a request for a CUDA device on a CPU-only addon into
 * an error that says what to do.
 * @module
 */
import { BeitError } from './errors.js';
import { native, nativeCudaLibraries, nativeCudaReason } from './native.js';

/**
 * What {@link cudaInfo} reports.
 *
 * @example
 * ```ts
 * const { build, devices, reason } = cudaInfo();
 * ```
 */
export interface CudaInfo {
  /** Whether the addon in use is the CUDA build (the package `beit-node-linux-x64-gnu-cuda`). */
  build: boolean;
  /** The CUDA devices that addon sees: 0 without the CUDA build, an NVIDIA driver or a GPU. */
  devices: number;
  /** Why the CUDA build is not in use, and what to do about it; absent when it is. */
  reason?: string;
  /** The device that `device: 'auto'` picks here: `'cuda'` when a GPU is usable, else `'cpu'`. */
  auto: 'cuda' | 'cpu';
  /**
   * With the CUDA build, the file each CUDA library was loaded from (by soname), where beit-node had to
   * find it; a value equal to its key means the dynamic loader's own path served it.
   */
  libraries?: Readonly<Record<string, string>>;
}

/** The addon's CUDA probes. Older builds, or one named by BEIT_NODE_BINARY, may lack them. */
interface CudaProbe {
  cudaBuild(): boolean;
  cudaDevices(): number;
}

/** `cuda` or `cuda:N`, as the addon parses device names (trimmed, any case). */
const CUDA_DEVICE = /^cuda(:\d+)?$/i;

/**
 * Whether beit-node can run models on NVIDIA GPUs here, and if not, why.
 *
 * @example
 * ```ts
 * import { BeitModel, cudaInfo } from 'beit-node';
 * const { devices } = cudaInfo();
 * const model = await BeitModel.fromPretrained(dir, devices > 0 ? { device: 'cuda', dtype: 'bfloat16' } : {});
 * ```
 */
export function cudaInfo(): CudaInfo {
  const probe = native as Partial<CudaProbe>;
  if (probe.cudaBuild?.() !== true) {
    return {
      build: false,
      devices: 0,
      reason: nativeCudaReason ?? 'the beit-node binary in use was built without CUDA.',
      auto: 'cpu',
    };
  }
  const devices = probe.cudaDevices?.() ?? 0;
  return {
    build: true,
    devices,
    auto: devices > 0 ? 'cuda' : 'cpu',
    ...(nativeCudaLibraries ? { libraries: nativeCudaLibraries } : {}),
  };
}

/**
 * The device a model loads on: `'auto'` resolved (the GPU when one is usable, else the CPU), anything
 * else as given. An explicit `'cuda'` never falls back: it fails where there is no GPU.
 */
export function resolveDevice(device: string | undefined): string | undefined {
  return device?.trim().toLowerCase() === 'auto' ? cudaInfo().auto : device;
}

/** A device as the model reports it: `'cpu'` or `'cuda:N'`. */
export function canonicalDevice(device: string | undefined): string {
  const name = (device ?? 'cpu').trim().toLowerCase();
  return name === 'cuda' ? 'cuda:0' : name;
}

/**
 * Throws `E_CUDA_UNAVAILABLE` when `device` names a CUDA device and the addon has no CUDA support.
 * With the CUDA build it does nothing: the addon's own errors (no GPU, `cuda:7` on a one-GPU
 * machine, a driver too old) say more than this side can.
 */
export function checkCudaDevice(device: string | undefined): void {
  if (device === undefined || !CUDA_DEVICE.test(device.trim())) return;
  const info = cudaInfo();
  if (info.build) return;
  throw new BeitError(
    'E_CUDA_UNAVAILABLE',
    `device '${device}' was requested, but the beit-node binary in use has no CUDA support: ${info.reason} ` +
      "Until then, use device 'cpu'.",
  );
}
