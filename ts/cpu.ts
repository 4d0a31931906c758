/**
 * The CPU kernels in this process: the instruction set level detected, the one in use, and the threads of
 * the shared pool.
 * @module
 */
import { BeitError, callNativeSync } from './errors.js';
import { native } from './native.js';

/** An instruction set level of beit-node's CPU kernels, lowest first. */
export type CpuLevel = 'scalar' | 'neon' | 'mmla' | 'avx2' | 'avxvnni' | 'avx512' | 'amx';

/**
 * What {@link cpuInfo} reports.
 *
 * @example
 * ```ts
 * const { detected, active } = cpuInfo();
 * ```
 */
export interface CpuInfo {
  /**
   * The highest level this CPU and OS support: `amx` is `avx512` with AMX (INT8, BF16) that the OS lets this
   * process use, `avx512` AVX-512 F/BW/DQ/VL with VNNI, `avxvnni` AVX2 with FMA and AVX-VNNI (no AVX-512:
   * Alder Lake and later client cores, Sierra Forest), `avx2` AVX2 with FMA, `mmla` arm64 with the dot product,
   * I8MM and BF16 extensions (Graviton 3 and later, Apple M2 and later), `neon` any other arm64 CPU.
   */
  detected: CpuLevel;
  /** The level the kernels use: `detected`, or lower when `BEIT_CPU` says so (read at start-up). */
  active: CpuLevel;
  /**
   * The threads of the pool that models loaded without `threads` share, and image decoding uses:
   * `BEIT_NUM_THREADS` where set, else `RAYON_NUM_THREADS`, else one per core.
   */
  threads: number;
}

/** The addon's probe; a binary from before it (BEIT_NODE_BINARY) may lack it. */
interface CpuProbe {
  cpuLevels(): CpuInfo;
}

/**
 * Which of beit-node's CPU kernels run here: worth printing beside any timing.
 *
 * @example
 * ```ts
 * import { cpuInfo } from 'beit-node';
 * console.log(`kernels: ${cpuInfo().active}`); // 'avx512' on a Zen 4, 'amx' on a Sapphire Rapids
 * ```
 * @throws BeitError `E_INVALID_ARGUMENT` when `BEIT_NUM_THREADS` is not a whole number from 1 to 1024.
 */
export function cpuInfo(): CpuInfo {
  const { cpuLevels } = native as Partial<CpuProbe>;
  if (!cpuLevels) {
    throw new BeitError(
      'E_NATIVE_BINDING',
      'the beit-node binary in use predates cpuInfo(): rebuild it (npm run build) or unset BEIT_NODE_BINARY',
    );
  }
  // The addon refuses an invalid BEIT_NUM_THREADS here too: its error becomes a BeitError.
  return callNativeSync(cpuLevels);
}
