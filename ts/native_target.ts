/**
 * Which prebuilt binary fits this process: the platform, CPU and C library Node runs on, named the
 * way napi-rs names its per-platform packages (`linux-x64-gnu`, `darwin-arm64`, ...).
 * @module
 */
import { readFileSync } from 'node:fs';

/** The C library of a Linux process; `null` elsewhere. */
export type Libc = 'glibc' | 'musl' | null;

/** What the loader needs to know about the running process. */
export interface HostInfo {
  platform: NodeJS.Platform;
  arch: string;
  libc: Libc;
  /** The glibc version the process runs with (`'2.36'`), when it is glibc. */
  glibcVersion: string | null;
}

/** The targets `beit-node` publishes a binary for: napi-rs's platform-arch-abi names. */
export const PUBLISHED_TARGETS = [
  'linux-x64-gnu',
  'linux-x64-musl',
  'linux-arm64-gnu',
  'linux-arm64-musl',
  'darwin-x64',
  'darwin-arm64',
  'win32-x64-msvc',
] as const;

/**
 * The targets with a CUDA build, published as a package of its own (`beit-node-<target>-cuda`) that
 * users add beside `beit-node`: it is not an optional dependency, since it needs an NVIDIA driver.
 */
export const CUDA_TARGETS = ['linux-x64-gnu'] as const;

/** The NVIDIA driver the CUDA build needs: 580 is the first with CUDA 13.0, which the build targets. */
export const CUDA_DRIVER_FLOOR = 580;

/** The oldest glibc the Linux gnu binaries run on (they are linked against 2.17's symbols). */
export const GLIBC_FLOOR = '2.17';

/**
 * This process's platform, CPU and C library. The glibc version is left out (it costs a
 * `process.report`, some milliseconds at every import); `withGlibcVersion` adds it for messages.
 */
export function currentHost(): HostInfo {
  return { platform: process.platform, arch: process.arch, libc: detectLibc(), glibcVersion: null };
}

/** The host with the glibc version this process runs with filled in, when it runs on glibc. */
export function withGlibcVersion(host: HostInfo): HostInfo {
  if (host.libc !== 'glibc' || host.glibcVersion || host.platform !== process.platform) return host;
  return { ...host, glibcVersion: reportedGlibcVersion() };
}

/**
 * The napi-rs target name for a host: `linux-x64-gnu`, `linux-arm64-musl`, `win32-x64-msvc`,
 * `darwin-arm64`. Hosts without a published binary get a name too, so errors can say what was
 * looked for.
 */
export function targetName(host: HostInfo): string {
  const base = `${host.platform}-${host.arch}`;
  if (host.platform === 'linux') return `${base}-${host.libc === 'musl' ? 'musl' : 'gnu'}`;
  if (host.platform === 'win32') return `${base}-msvc`;
  return base;
}

/** A host in words for error messages: `linux x64 (glibc 2.36)`, `linux arm64 (musl)`. */
export function describeHost(host: HostInfo): string {
  const words = `${host.platform} ${host.arch}`;
  if (host.libc === 'glibc') return `${words} (glibc${host.glibcVersion ? ` ${host.glibcVersion}` : ''})`;
  if (host.libc === 'musl') return `${words} (musl libc)`;
  return words;
}

/**
 * Which C library a Linux process runs on. `ldd` names its C library in its own text (Alpine's is
 * musl's, every glibc distribution's says GNU C Library); without one (distroless images), the
 * process report tells: it names the glibc the process runs with, and nothing on musl.
 */
function detectLibc(): Libc {
  if (process.platform !== 'linux') return null;
  try {
    const ldd = readFileSync('/usr/bin/ldd', 'utf8');
    if (ldd.includes('musl')) return 'musl';
    if (ldd.includes('GNU C Library') || ldd.includes('glibc')) return 'glibc';
  } catch {
    // No ldd: ask the process report.
  }
  return reportedGlibcVersion() ? 'glibc' : 'musl';
}

function reportedGlibcVersion(): string | null {
  const report = process.report as { excludeNetwork?: boolean; getReport(): object } | undefined;
  if (!report) return null;
  // The report would otherwise resolve the host names of open sockets, which can block.
  report.excludeNetwork = true;
  const header = (report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return header?.glibcVersionRuntime ?? null;
}
