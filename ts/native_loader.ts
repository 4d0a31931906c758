/**
 * The one place that decides which native binary loads, and says what to do when none can.
 *
 * Candidates, first match wins:
 * 1. `BEIT_NODE_BINARY`: an explicit path to a `.node` file (a build of your own);
 * 2. `native/beit-node.<target>.node` inside the package: a development checkout's own build;
 * 3. the CUDA package `beit-node-<target>-cuda`, where the target has one and the user installed it
 *    (unless `BEIT_NODE_CUDA=0`);
 * 4. the platform package `beit-node-<target>` that npm installs as an optional dependency.
 * The CUDA build links the NVIDIA driver's libcuda.so.1 and the CUDA 13 runtime libraries at load
 * time: they are found and loaded by path first (`cuda_libraries.ts`), and where one is missing 4 loads,
 * silently, and the reason is kept for `cudaInfo()` and a later request of device 'cuda'.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CUDA_SETUP_COMMAND,
  type CudaLibrariesLoad,
  type CudaLibraryOrigins,
  loadCudaLibraries,
  namesCudaLibrary,
} from './cuda_libraries.js';
import { BeitError } from './errors.js';
import {
  CUDA_DRIVER_FLOOR,
  CUDA_TARGETS,
  currentHost,
  describeHost,
  GLIBC_FLOOR,
  type HostInfo,
  PUBLISHED_TARGETS,
  targetName,
  withGlibcVersion,
} from './native_target.js';

/** The package's own name; platform packages are `${PACKAGE}-<target>`. */
const PACKAGE = 'beit-node';

/** Where `loadNativeBinding` looks, and how it loads a file; tests replace these. */
export interface LoaderEnv {
  host: HostInfo;
  /** `BEIT_NODE_BINARY`, if set. */
  override: string | undefined;
  /** `BEIT_NODE_CUDA`, if set: `0` skips the CUDA package. */
  cudaSwitch: string | undefined;
  /** The root of the `beit-node` package (where its package.json is). */
  packageRoot: string;
  /** Resolves a package's package.json from the `beit-node` package, or returns null. */
  resolvePackageJson(name: string): string | null;
  /** Loads a `.node` file. */
  load(file: string): unknown;
  /** Finds and loads the libraries the CUDA build links (`cuda_libraries.ts`). */
  loadCudaLibraries(): CudaLibrariesLoad;
}

/** The environment of this process. */
export function processLoaderEnv(): LoaderEnv {
  const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
  const require = createRequire(join(packageRoot, 'package.json'));
  return {
    host: currentHost(),
    override: process.env.BEIT_NODE_BINARY || undefined,
    cudaSwitch: process.env.BEIT_NODE_CUDA,
    packageRoot,
    resolvePackageJson(name) {
      try {
        return require.resolve(`${name}/package.json`);
      } catch {
        return null;
      }
    },
    load: (file) => require(file),
    loadCudaLibraries: () => loadCudaLibraries(),
  };
}

/** The binding that loaded, and why it is not the CUDA build when that can be said. */
export interface NativeSelection<T> {
  binding: T;
  /**
   * Why the CUDA package is not the binary in use (skipped, not installed, failed to load, or a
   * candidate before it won), in words that say what to do. Absent when the CUDA package loaded.
   */
  cudaReason?: string;
  /** Where each CUDA library came from, when they were loaded for a CUDA build (see `cuda_libraries.ts`). */
  cudaLibraries?: CudaLibraryOrigins;
}

/** Loads the native binding for this process, or throws a `BeitError` (`E_NATIVE_BINDING`) that says what to do. */
export function loadNativeBinding<T>(env: LoaderEnv = processLoaderEnv()): T {
  return selectNativeBinding<T>(env).binding;
}

/** {@link loadNativeBinding}, with the reason the CUDA build was not loaded. */
export function selectNativeBinding<T>(env: LoaderEnv = processLoaderEnv()): NativeSelection<T> {
  const target = targetName(env.host);
  if (env.override) {
    const { binding, libraries } = loadFile(env, env.override, 'BEIT_NODE_BINARY');
    const cudaReason = passedOver(env, target, `BEIT_NODE_BINARY (${env.override})`);
    return { binding: binding as T, cudaReason, cudaLibraries: libraries };
  }
  const local = join(env.packageRoot, 'native', `${PACKAGE}.${target}.node`);
  if (existsSync(local)) {
    const { binding, libraries } = loadFile(env, local, 'the build in native/');
    const cudaReason = passedOver(env, target, `the build in native/ (${local})`);
    return { binding: binding as T, cudaReason, cudaLibraries: libraries };
  }
  const cuda = tryCudaPackage<T>(env, target);
  if ('binding' in cuda) return { binding: cuda.binding, cudaLibraries: cuda.libraries };
  return { binding: loadPlatformPackage<T>(env, target, cuda.reason), cudaReason: cuda.reason };
}

/** The platform package `beit-node-<target>`; `cudaReason` goes into the error when it is missing too. */
function loadPlatformPackage<T>(env: LoaderEnv, target: string, cudaReason: string): T {
  const name = `${PACKAGE}-${target}`;
  const manifest = env.resolvePackageJson(name);
  if (!manifest) throw missingPackage(env, target, cudaReason);
  const platform = readManifest(manifest);
  const mismatch = versionMismatch(env, name, manifest, platform.version);
  if (mismatch) throw new BeitError('E_NATIVE_BINDING', mismatch);
  const main = platform.main ?? `${PACKAGE}.${target}.node`;
  return loadFile(env, join(dirname(manifest), main), `the package ${name}`).binding as T;
}

/** The name of the target's CUDA package, or null where the target has none. */
export function cudaPackageName(target: string): string | null {
  return (CUDA_TARGETS as readonly string[]).includes(target) ? `${PACKAGE}-${target}-cuda` : null;
}

/** Whether `BEIT_NODE_CUDA` turns the CUDA package off. */
function cudaSwitchedOff(value: string | undefined): boolean {
  return value !== undefined && /^(0|false|off|no)$/i.test(value.trim());
}

/** The CUDA package when it is installed, of the right version, and loads; else why not. */
function tryCudaPackage<T>(
  env: LoaderEnv,
  target: string,
): { binding: T; libraries: CudaLibraryOrigins } | { reason: string } {
  const name = cudaPackageName(target);
  if (!name) return { reason: noCudaTarget(env) };
  const manifest = env.resolvePackageJson(name);
  if (cudaSwitchedOff(env.cudaSwitch)) {
    return {
      reason: `BEIT_NODE_CUDA=${env.cudaSwitch} skips the CUDA package${manifest ? '' : ` (${name})`}: unset it to use the GPU.`,
    };
  }
  if (!manifest) return { reason: cudaNotInstalled(name) };
  const cuda = readManifest(manifest);
  const wanted = ownVersion(env);
  if (cuda.version !== wanted) {
    return {
      reason: `the CUDA package was not loaded: beit-node ${wanted} needs ${name} ${wanted}, but ${cuda.version} is installed (${manifest}): npm install ${name}@${wanted}.`,
    };
  }
  const file = join(dirname(manifest), cuda.main ?? `${PACKAGE}.${target}-cuda.node`);
  const libraries = env.loadCudaLibraries();
  if ('reason' in libraries) return { reason: `the CUDA package ${name} is installed, but ${libraries.reason}` };
  try {
    return { binding: env.load(file) as T, libraries: libraries.loaded };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return {
      reason: `the CUDA package ${name} is installed but did not load (${file}): ${why}. ${cudaLoadAdvice(name, why)}`,
    };
  }
}

/** What to do about a CUDA build that the dynamic loader refused, by what it said. */
function cudaLoadAdvice(name: string, reason: string): string {
  if (/libcuda\.so/.test(reason)) {
    return `libcuda.so.1 is the NVIDIA driver's library, so this machine has no NVIDIA driver (or the loader cannot see it): install the NVIDIA driver ${CUDA_DRIVER_FLOOR} or newer, or use device 'cpu'.`;
  }
  if (/undefined symbol: cu[A-Z]/.test(reason)) {
    return `The NVIDIA driver is older than the CUDA build needs: update it to ${CUDA_DRIVER_FLOOR} or newer (CUDA 13.0), or use device 'cpu'.`;
  }
  if (namesCudaLibrary(reason, 'runtime')) {
    return `A CUDA 13.0 runtime library it links (cudart, cuBLAS, cuBLASLt, cuRAND, NVRTC) is missing or of another release: run \`${CUDA_SETUP_COMMAND}\` to install NVIDIA's pinned wheels where beit-node finds them, or use device 'cpu'.`;
  }
  return `Reinstall ${name} at beit-node's version, or use device 'cpu'; if it persists, report it with this message.`;
}

/** A binary before the CUDA package won: say so when the CUDA package is there too. */
function passedOver(env: LoaderEnv, target: string, winner: string): string {
  const name = cudaPackageName(target);
  if (!name) return noCudaTarget(env);
  if (!env.resolvePackageJson(name)) return cudaNotInstalled(name);
  return `${winner} was loaded: it comes before the CUDA package ${name}; unset BEIT_NODE_BINARY or remove the build in native/ to use the CUDA package.`;
}

function cudaNotInstalled(name: string): string {
  return (
    `the CUDA package is not installed: npm install ${name} (Linux x64 with glibc only), ` +
    `and an NVIDIA driver ${CUDA_DRIVER_FLOOR} or newer (CUDA 13.0).`
  );
}

function noCudaTarget(env: LoaderEnv): string {
  return `beit-node's CUDA build is for ${CUDA_TARGETS.join(', ')} only (npm install ${PACKAGE}-${CUDA_TARGETS[0]}-cuda there, with an NVIDIA driver ${CUDA_DRIVER_FLOOR} or newer), and this is ${describeHost(env.host)}: use device 'cpu'.`;
}

function readManifest(file: string): { version?: string; main?: string } {
  return JSON.parse(readFileSync(file, 'utf8')) as { version?: string; main?: string };
}

/** The host in words, glibc version included (found only now: it costs a process report). */
function hostWords(host: HostInfo): string {
  return describeHost(withGlibcVersion(host));
}

/** A loaded binary, and where its CUDA libraries came from when they had to be found. */
interface LoadedFile {
  binding: unknown;
  libraries?: CudaLibraryOrigins;
}

function loadFile(env: LoaderEnv, file: string, what: string): LoadedFile {
  try {
    return loadWithCudaLibraries(env, file);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new BeitError(
      'E_NATIVE_BINDING',
      `beit-node's native binary (${what}: ${file}) failed to load on ${hostWords(env.host)}: ${reason}. ` +
        loadFailureAdvice(reason, env.host),
      { cause: err },
    );
  }
}

/**
 * Loads a binary; a CUDA build that the loader's path cannot serve is loaded again once the CUDA
 * libraries are loaded by path (a CPU build never pays for the search).
 */
function loadWithCudaLibraries(env: LoaderEnv, file: string): LoadedFile {
  try {
    return { binding: env.load(file) };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    // Only a CUDA library the loader could not find is worth the search.
    if (!namesCudaLibrary(reason) || !/cannot open shared object file/.test(reason)) throw err;
    const libraries = env.loadCudaLibraries();
    if ('reason' in libraries) throw new Error(`it is a CUDA build, and ${libraries.reason}`, { cause: err });
    return { binding: env.load(file), libraries: libraries.loaded };
  }
}

/** What to do about a binary that exists but does not load, by what the dynamic loader said. */
function loadFailureAdvice(reason: string, host: HostInfo): string {
  if (/GLIBC_|GLIBCXX_/.test(reason)) {
    return `The binary needs a newer glibc than this system's; the published Linux binaries need glibc ${GLIBC_FLOOR} or newer, so this one was not built by the beit-node release: reinstall beit-node.`;
  }
  if (/musl|ld-linux|libc\.so/.test(reason) && host.libc) {
    return `The binary was built for another C library than this system's ${host.libc}: delete node_modules and run npm install on this machine, so that npm picks the ${targetName(host)} package.`;
  }
  if (/ELF|Mach-O|not a valid Win32|invalid|wrong|architecture|exec format|too short/i.test(reason)) {
    return `The file is for another platform or CPU, or damaged. Delete node_modules and run npm install on this machine (node_modules copied from another machine or a Docker build stage for another platform carry the wrong binary).`;
  }
  return `Reinstall beit-node (delete node_modules and run npm install); if it persists, report it with this message.`;
}

function missingPackage(env: LoaderEnv, target: string, cudaReason: string): BeitError {
  const host = hostWords(env.host);
  if (!(PUBLISHED_TARGETS as readonly string[]).includes(target)) {
    return new BeitError(
      'E_NATIVE_BINDING',
      `beit-node has no prebuilt binary for ${host} (looked for the package ${PACKAGE}-${target}). ` +
        `Prebuilt binaries: ${PUBLISHED_TARGETS.join(', ')}. Elsewhere, build one from source ` +
        '(clone the repository, `npm ci && npm run build`, which needs Rust and a C compiler) and set ' +
        'BEIT_NODE_BINARY to the .node file it writes into native/.',
    );
  }
  return new BeitError(
    'E_NATIVE_BINDING',
    `beit-node found no native binary for ${host}: the package ${PACKAGE}-${target} is not installed. ` +
      `npm installs it as an optional dependency of beit-node on matching systems. ${otherLibcNote(env, target)}` +
      'Install it again with optional dependencies on this machine: delete node_modules (and package-lock.json, ' +
      'if it was written on another OS, CPU or C library) and run npm install; do not pass --omit=optional or ' +
      '--no-optional. In a Docker build, run npm install inside the image it runs in.' +
      (cudaReason.startsWith('the CUDA package is not installed') ? '' : ` (The CUDA build: ${cudaReason})`),
  );
}

/** On Linux, the package for the other C library may be the one that is there. */
function otherLibcNote(env: LoaderEnv, target: string): string {
  if (env.host.platform !== 'linux') return '';
  const other = target.endsWith('-musl') ? target.replace(/-musl$/, '-gnu') : target.replace(/-gnu$/, '-musl');
  if (!env.resolvePackageJson(`${PACKAGE}-${other}`)) return '';
  return `${PACKAGE}-${other} is installed, but it is built for ${other.endsWith('-musl') ? 'musl' : 'glibc'} and this system runs ${env.host.libc}, so it cannot load here. `;
}

/** A platform package must be the version the JS side was released with (their API moves together): else the message. */
function versionMismatch(env: LoaderEnv, name: string, manifest: string, found: string | undefined): string | null {
  const wanted = ownVersion(env);
  if (wanted === found) return null;
  return (
    `beit-node ${wanted} needs ${name} ${wanted}, but ${name} ${found} is installed (${manifest}). ` +
    'Reinstall beit-node so that npm installs the matching binary: delete node_modules and run npm install.'
  );
}

/** The version of the `beit-node` package itself. */
function ownVersion(env: LoaderEnv): string | undefined {
  return readManifest(join(env.packageRoot, 'package.json')).version;
}
