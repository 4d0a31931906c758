/**
 * Finds the CUDA libraries the CUDA build links, wherever a GPU machine already holds them, and loads
 * them by path before the addon (see `shared_library.ts`), so that no LD_LIBRARY_PATH has to be set.
 *
 * Why by path from here rather than cudarc's own dynamic loading: candle's CUDA backend turns on cudarc's
 * `dynamic-linking`, which cudarc refuses beside `dynamic-loading`; the addon therefore has `NEEDED`
 * entries for these sonames, and a library already loaded under a soname satisfies them.
 *
 * Where, first match wins for each library (and a folder that gave one is asked first for the next,
 * so that cuBLAS and cuBLASLt come from one release):
 * 1. the loader's own path: LD_LIBRARY_PATH, the linker's cache (ldconfig), /lib and /usr/lib;
 * 2. the folder `beit cuda-setup` installs into (`cudaSetupDir()`);
 * 3. a CUDA toolkit: CUDA_HOME, CUDA_PATH, CUDA_ROOT, then /usr/local/cuda, /usr/local/cuda-13.*, /opt/cuda;
 * 4. a conda environment (CONDA_PREFIX) and a virtual environment (VIRTUAL_ENV);
 * 5. the site-packages of `python3` and `python` on PATH (NVIDIA's wheels, which PyTorch's CUDA 13
 *    build installs: nvidia/cu13/lib), and the usual conda and user-site folders.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadSharedLibrary } from './shared_library.js';

/** A library the CUDA build needs at load time, and what it is for messages. */
export interface CudaLibrary {
  /** The soname the addon's `NEEDED` entry names. */
  soname: string;
  /** What it is, in words. */
  title: string;
  /** False for a library loaded where found but not linked: cuBLASLt opens NVRTC itself for some kernels. */
  required?: boolean;
}

/** The NVIDIA driver's library: never searched for in CUDA folders (their copy is a stub for linking). */
export const CUDA_DRIVER_LIBRARY: CudaLibrary = { soname: 'libcuda.so.1', title: "the NVIDIA driver's library" };

/**
 * The CUDA 13 runtime libraries, in the order they load (each before the libraries that need it): those
 * the addon links, then NVRTC, which cuBLASLt opens by name at run time where it has it (loaded here when
 * found, so that it need not lie beside cuBLASLt; not required).
 */
export const CUDA_RUNTIME_LIBRARIES: readonly CudaLibrary[] = [
  { soname: 'libcudart.so.13', title: 'the CUDA 13 runtime' },
  { soname: 'libcublasLt.so.13', title: 'cuBLASLt 13' },
  { soname: 'libcublas.so.13', title: 'cuBLAS 13' },
  { soname: 'libcurand.so.10', title: 'cuRAND 10 (CUDA 13)' },
  { soname: 'libnvrtc.so.13', title: 'NVRTC 13', required: false },
];

/** Whether a dynamic loader's message names one of the CUDA runtime libraries (`runtime`) or any of them. */
export function namesCudaLibrary(message: string, which: 'runtime' | 'any' = 'any'): boolean {
  const libraries = which === 'runtime' ? CUDA_RUNTIME_LIBRARIES : [CUDA_DRIVER_LIBRARY, ...CUDA_RUNTIME_LIBRARIES];
  return libraries.some(({ soname }) => message.includes(soname));
}

/**
 * NVIDIA's pip wheels of those libraries, pinned to the CUDA release the build targets (the same pins as
 * scripts/cuda_toolkit.sh): what `beit cuda-setup` installs.
 */
export const CUDA_RUNTIME_WHEELS = [
  'nvidia-cuda-runtime==13.0.*',
  'nvidia-cublas==13.0.*',
  'nvidia-curand==10.4.0.*',
  'nvidia-cuda-nvrtc==13.0.*',
] as const;

/** The command that installs them where the search below looks, for messages. */
export const CUDA_SETUP_COMMAND = 'npx beit cuda-setup';

/** What the search reads of the process and the file system; tests replace it. */
export interface CudaSearchEnv {
  env: NodeJS.ProcessEnv;
  home: string;
  exists(path: string): boolean;
  /** The names in a folder, or none. */
  list(dir: string): string[];
  /** The site-packages folders of the Pythons on PATH. */
  pythonSitePackages(): string[];
  /** Loads a library by path or soname: null when loaded, else the loader's message. */
  load(file: string): string | null;
}

/** This process's environment. */
export function processCudaSearchEnv(): CudaSearchEnv {
  return {
    env: process.env,
    home: homedir(),
    exists: existsSync,
    list(dir) {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    },
    pythonSitePackages,
    load: loadSharedLibrary,
  };
}

/** Where `beit cuda-setup` installs the wheels: `$XDG_CACHE_HOME/beit-node/cuda-13.0` (or ~/.cache/...). */
export function cudaSetupDir(search: Pick<CudaSearchEnv, 'env' | 'home'> = processCudaSearchEnv()): string {
  const cache = search.env.XDG_CACHE_HOME || join(search.home, '.cache');
  return join(cache, 'beit-node', 'cuda-13.0');
}

/** Which file served each library: a path, or the soname where the loader's own path had it. */
export type CudaLibraryOrigins = Record<string, string>;

/** The outcome of {@link loadCudaLibraries}: every library loaded, or why not in words that say what to do. */
export type CudaLibrariesLoad = { loaded: CudaLibraryOrigins } | { reason: string };

/**
 * Loads the driver's library and then the runtime libraries, each from the first place that has it.
 * `BEIT_CUDA_DRIVER` names the driver's library file where it is not on the loader's path.
 */
export function loadCudaLibraries(search: CudaSearchEnv = processCudaSearchEnv()): CudaLibrariesLoad {
  const loaded: CudaLibraryOrigins = {};
  const driver = search.env.BEIT_CUDA_DRIVER || CUDA_DRIVER_LIBRARY.soname;
  const driverError = search.load(driver);
  if (driverError) return { reason: driverMissing(driver, driverError) };
  loaded[CUDA_DRIVER_LIBRARY.soname] = driver;

  const folders = new FolderSearch(search);
  for (const library of CUDA_RUNTIME_LIBRARIES) {
    if (search.load(library.soname) === null) {
      loaded[library.soname] = library.soname;
      continue;
    }
    const file = folders.find(library.soname);
    if (!file && library.required === false) continue;
    if (!file) return { reason: runtimeMissing(library, folders) };
    const error = search.load(file);
    if (error) return { reason: `${library.title} (${file}) did not load: ${error}. ${RUNTIME_ADVICE}` };
    loaded[library.soname] = file;
  }
  return { loaded };
}

const RUNTIME_ADVICE =
  `Run \`${CUDA_SETUP_COMMAND}\` to install NVIDIA's CUDA 13.0 runtime wheels where beit-node finds them ` +
  "(or install the CUDA 13.0 toolkit, or PyTorch's CUDA 13 build), or use device 'cpu'.";

function driverMissing(driver: string, error: string): string {
  return (
    `${CUDA_DRIVER_LIBRARY.title} ${driver} did not load (${error}): this machine has no NVIDIA driver, ` +
    "or the loader cannot see it. Install the NVIDIA driver 580 or newer (CUDA 13.0), or set BEIT_CUDA_DRIVER to its libcuda.so.1; or use device 'cpu'."
  );
}

function runtimeMissing(library: CudaLibrary, folders: FolderSearch): string {
  const otherMajor = folders.otherMajors(library.soname);
  const seen = otherMajor.length
    ? ` Found only other major versions, which this build cannot use: ${otherMajor.slice(0, 3).join(', ')}.`
    : '';
  const searched = folders.searched();
  const list =
    searched.length > 6 ? `${searched.slice(0, 6).join(', ')} and ${searched.length - 6} more` : searched.join(', ');
  return (
    `${library.title} (${library.soname}) was not found: not on the loader's path (LD_LIBRARY_PATH, the linker's cache), ` +
    `nor in ${list || 'any CUDA toolkit, conda environment or Python site-packages'}.${seen} ${RUNTIME_ADVICE}`
  );
}

/** The candidate folders, produced lazily (asking Python costs a process), searched in order. */
class FolderSearch {
  readonly #search: CudaSearchEnv;
  readonly #folders: string[] = [];
  readonly #pending: Iterator<string>;
  #preferred: string | undefined;

  constructor(search: CudaSearchEnv) {
    this.#search = search;
    this.#pending = candidateFolders(search);
  }

  /** The first folder holding `soname`, the folder of the last find asked first. */
  find(soname: string): string | null {
    const { exists } = this.#search;
    if (this.#preferred && exists(join(this.#preferred, soname))) return join(this.#preferred, soname);
    for (const dir of this.#all()) {
      if (exists(join(dir, soname))) {
        this.#preferred = dir;
        return join(dir, soname);
      }
    }
    return null;
  }

  /** Files of the same library with another major version (`libcudart.so.12`), for messages. */
  otherMajors(soname: string): string[] {
    const stem = soname.replace(/\.\d+$/, '.');
    return [...this.#all()].flatMap((dir) =>
      this.#search
        .list(dir)
        .filter((name) => name.startsWith(stem) && /^\d+$/.test(name.slice(stem.length)) && name !== soname)
        .map((name) => join(dir, name)),
    );
  }

  /** The folders that exist and were searched, for messages. */
  searched(): string[] {
    return [...this.#all()];
  }

  /** Every candidate that exists, drawing the lazy ones as needed. */
  *#all(): Generator<string> {
    yield* this.#folders;
    for (let next = this.#pending.next(); !next.done; next = this.#pending.next()) {
      if (this.#folders.includes(next.value) || !this.#search.exists(next.value)) continue;
      this.#folders.push(next.value);
      yield next.value;
    }
  }
}

/** Library folders in search order (some may not exist); Python is asked only when reached. */
function* candidateFolders(search: CudaSearchEnv): Generator<string> {
  const { env, home } = search;
  yield* wheelFolders(cudaSetupDir(search));
  for (const root of [env.CUDA_HOME, env.CUDA_PATH, env.CUDA_ROOT]) if (root) yield* toolkitFolders(root);
  for (const prefix of [env.CONDA_PREFIX, env.VIRTUAL_ENV]) if (prefix) yield* prefixFolders(search, prefix);
  for (const root of systemToolkits(search)) yield* toolkitFolders(root);
  for (const site of search.pythonSitePackages()) yield* wheelFolders(site);
  for (const prefix of ['/opt/conda', join(home, 'miniconda3'), join(home, 'miniforge3'), join(home, 'anaconda3')]) {
    yield* prefixFolders(search, prefix);
  }
  yield* pythonFolders(search, join(home, '.local'));
}

/** A toolkit's library folders. */
function* toolkitFolders(root: string): Generator<string> {
  yield join(root, 'lib64');
  yield join(root, 'lib');
  yield join(root, 'targets', 'x86_64-linux', 'lib');
}

/** NVIDIA's wheels inside a site-packages: CUDA 13's one folder, and the per-library layout of older wheels. */
function* wheelFolders(site: string): Generator<string> {
  yield join(site, 'nvidia', 'cu13', 'lib');
  for (const part of ['cuda_runtime', 'cublas', 'curand', 'cuda_nvrtc']) yield join(site, 'nvidia', part, 'lib');
}

/** A conda or virtual environment: its lib (conda's CUDA packages) and its Pythons' site-packages. */
function* prefixFolders(search: CudaSearchEnv, prefix: string): Generator<string> {
  yield join(prefix, 'lib');
  yield* pythonFolders(search, prefix);
}

/** `<prefix>/lib/python3.*\/site-packages`, newest first, and the wheels in them. */
function* pythonFolders(search: CudaSearchEnv, prefix: string): Generator<string> {
  const lib = join(prefix, 'lib');
  const pythons = search
    .list(lib)
    .filter((name) => /^python3\.\d+$/.test(name))
    .sort(byVersionDescending);
  for (const python of pythons) yield* wheelFolders(join(lib, python, 'site-packages'));
}

/** /usr/local/cuda, then /usr/local/cuda-13.* newest first, then /opt/cuda. */
function systemToolkits(search: CudaSearchEnv): string[] {
  const versioned = search
    .list('/usr/local')
    .filter((name) => /^cuda-13(\.\d+)*$/.test(name))
    .sort(byVersionDescending);
  return ['/usr/local/cuda', ...versioned.map((name) => join('/usr/local', name)), '/opt/cuda'];
}

function byVersionDescending(a: string, b: string): number {
  return b.localeCompare(a, 'en', { numeric: true });
}

/** The site-packages (and user site) of `python3` and `python` on PATH; none where there is no Python. */
function pythonSitePackages(): string[] {
  const script = 'import json,site; print(json.dumps(site.getsitepackages() + [site.getusersitepackages()]))';
  const folders = new Set<string>();
  for (const python of ['python3', 'python']) {
    const run = spawnSync(python, ['-c', script], { encoding: 'utf8', timeout: 10_000 });
    if (run.status !== 0) continue;
    try {
      for (const dir of JSON.parse(run.stdout) as unknown[]) if (typeof dir === 'string') folders.add(dir);
    } catch {
      // Not the output asked for (a shim that prints something else): nothing from it.
    }
  }
  return [...folders];
}
