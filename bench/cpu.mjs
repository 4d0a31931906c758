// The CPU a figure comes from, in one line: model, cores, and the vector extensions that decide
// which kernels run (beit-node's, onnxruntime's, PyTorch's).
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';

// x86 flags (/proc/cpuinfo "flags") and arm64 ones ("Features"): the names do not overlap.
const FLAGS = [
  'avx2',
  'fma',
  'avx512f',
  'avx512bw',
  'avx512dq',
  'avx512vl',
  'avx512_vnni',
  'avx_vnni',
  'avx512_bf16',
  'amx_tile',
  'amx_bf16',
  'amx_int8',
  'asimd',
  'asimddp',
  'i8mm',
  'bf16',
  'sve',
];

/** The flags of FLAGS this CPU has (from /proc/cpuinfo; none where it cannot be read). */
export function cpuFlags() {
  try {
    const line = /^(?:flags|Features)\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    const present = new Set(line?.[1].trim().split(/\s+/));
    return FLAGS.filter((f) => present.has(f));
  } catch {
    return []; // Not Linux.
  }
}

/** "Intel(R) Xeon(R) Processor, 2 cores, avx2 fma avx512f ..." (flags from /proc/cpuinfo on Linux). */
export function cpuDescription() {
  const model = cpus()[0]?.model?.trim() ?? 'unknown CPU';
  const flags = cpuFlags();
  return `${model}, ${availableParallelism()} cores${flags.length ? `, ${flags.join(' ')}` : ''}`;
}
