/**
 * CUDA in this process: whether the addon that loaded is the CUDA build, the GPUs it sees, and why
 * not when it is not; and the check that turns a request for a CUDA device on a CPU-only addon into
 * an error that says what to do.
 * @module
 */
import { BeitError } from './errors.js';
import { native, nativeCudaReason } from './native.js';

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
    };
  }
  return { build: true, devices: probe.cudaDevices?.() ?? 0 };
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
