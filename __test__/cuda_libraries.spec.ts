// Where the CUDA build's libraries are looked for, in what order, and what is said when one is
// missing: a simulated file system and loader (test:cuda-build loads the real libraries, laid out each
// way, into fresh processes).
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CUDA_RUNTIME_LIBRARIES,
  CUDA_RUNTIME_WHEELS,
  type CudaSearchEnv,
  cudaSetupDir,
  loadCudaLibraries,
} from '../ts/cuda_libraries.js';

const RUNTIME = CUDA_RUNTIME_LIBRARIES.map((l) => l.soname);

/** A machine whose only files are `files`, whose loader's path serves `onPath`, with `sites` as Python's. */
function machine(options: {
  files?: string[];
  onPath?: string[];
  env?: NodeJS.ProcessEnv;
  sites?: string[];
  broken?: Record<string, string>;
}): CudaSearchEnv & { loads: string[]; pythonAsked: number } {
  const files = new Set(options.files ?? []);
  const onPath = new Set(options.onPath ?? ['libcuda.so.1']);
  const dirs = new Set<string>();
  for (const file of files) {
    for (let d = dirname(file); d !== '/'; d = dirname(d)) dirs.add(d);
  }
  const search = {
    env: options.env ?? {},
    home: '/home/u',
    loads: [] as string[],
    pythonAsked: 0,
    exists: (path: string) => files.has(path) || dirs.has(path),
    list: (dir: string) =>
      [...files, ...dirs]
        .filter((p) => p.startsWith(`${dir}/`) && !p.slice(dir.length + 1).includes('/'))
        .map((p) => p.slice(dir.length + 1)),
    pythonSitePackages: () => {
      search.pythonAsked++;
      return options.sites ?? [];
    },
    load: (file: string) => {
      search.loads.push(file);
      if (options.broken?.[file]) return options.broken[file];
      if (file.includes('/')) return files.has(file) ? null : `${file}: cannot open shared object file`;
      return onPath.has(file) ? null : `${file}: cannot open shared object file`;
    },
  };
  return search;
}

const inFolder = (dir: string) => RUNTIME.map((name) => join(dir, name));

describe('finding the CUDA libraries', () => {
  it('takes the loader path first, and then asks no folder', () => {
    const m = machine({ onPath: ['libcuda.so.1', ...RUNTIME] });
    expect(loadCudaLibraries(m)).toEqual({
      loaded: Object.fromEntries(['libcuda.so.1', ...RUNTIME].map((n) => [n, n])),
    });
    expect(m.pythonAsked).toBe(0);
  });

  it("finds PyTorch's wheels through Python's site-packages, loading the driver first and cuBLASLt before cuBLAS", () => {
    const site = '/opt/venv/lib/python3.12/site-packages';
    const m = machine({ files: inFolder(`${site}/nvidia/cu13/lib`), sites: [site] });
    const result = loadCudaLibraries(m);
    expect(result).toEqual({
      loaded: {
        'libcuda.so.1': 'libcuda.so.1',
        ...Object.fromEntries(RUNTIME.map((n) => [n, `${site}/nvidia/cu13/lib/${n}`])),
      },
    });
    const byPath = m.loads.filter((f) => f.includes('/'));
    expect(byPath.map((f) => f.split('/').pop())).toEqual(RUNTIME);
    expect(RUNTIME.indexOf('libcublasLt.so.13')).toBeLessThan(RUNTIME.indexOf('libcublas.so.13'));
    expect(m.loads[0]).toBe('libcuda.so.1');
  });

  it('finds a toolkit by CUDA_HOME before /usr/local/cuda, and never asks Python then', () => {
    const m = machine({
      files: [...inFolder('/tk/lib64'), ...inFolder('/usr/local/cuda/lib64')],
      env: { CUDA_HOME: '/tk' },
    });
    const result = loadCudaLibraries(m) as { loaded: Record<string, string> };
    expect(result.loaded['libcudart.so.13']).toBe('/tk/lib64/libcudart.so.13');
    expect(m.pythonAsked).toBe(0);
  });

  it('finds /usr/local/cuda-13.* newest first, and a toolkit laid out under targets/', () => {
    const m = machine({
      files: [...inFolder('/usr/local/cuda-13.0/lib64'), ...inFolder('/usr/local/cuda-13.2/targets/x86_64-linux/lib')],
    });
    const result = loadCudaLibraries(m) as { loaded: Record<string, string> };
    expect(result.loaded['libcublas.so.13']).toBe('/usr/local/cuda-13.2/targets/x86_64-linux/lib/libcublas.so.13');
  });

  it('finds a conda environment by CONDA_PREFIX', () => {
    const m = machine({ files: inFolder('/conda/envs/ml/lib'), env: { CONDA_PREFIX: '/conda/envs/ml' } });
    const result = loadCudaLibraries(m) as { loaded: Record<string, string> };
    expect(result.loaded['libcurand.so.10']).toBe('/conda/envs/ml/lib/libcurand.so.10');
  });

  it('takes the folder beit cuda-setup installs into before any other', () => {
    const setup = cudaSetupDir({ env: { XDG_CACHE_HOME: '/xdg' }, home: '/home/u' });
    expect(setup).toBe('/xdg/beit-node/cuda-13.0');
    const m = machine({
      files: [...inFolder(`${setup}/nvidia/cu13/lib`), ...inFolder('/usr/local/cuda/lib64')],
      env: { XDG_CACHE_HOME: '/xdg' },
    });
    const result = loadCudaLibraries(m) as { loaded: Record<string, string> };
    expect(result.loaded['libcudart.so.13']).toBe(`${setup}/nvidia/cu13/lib/libcudart.so.13`);
    expect(cudaSetupDir({ env: {}, home: '/home/u' })).toBe('/home/u/.cache/beit-node/cuda-13.0');
  });

  it('keeps to the folder that gave the last library, so that cuBLAS and cuBLASLt are one release', () => {
    // cuBLAS is in both the toolkit and the wheels; cuBLASLt only in the wheels.
    const site = '/site';
    const m = machine({
      files: [
        '/usr/local/cuda/lib64/libcudart.so.13',
        '/usr/local/cuda/lib64/libcublas.so.13',
        '/usr/local/cuda/lib64/libcurand.so.10',
        '/usr/local/cuda/lib64/libnvrtc.so.13',
        `${site}/nvidia/cu13/lib/libcublasLt.so.13`,
        `${site}/nvidia/cu13/lib/libcublas.so.13`,
      ],
      sites: [site],
    });
    const result = loadCudaLibraries(m) as { loaded: Record<string, string> };
    expect(result.loaded['libcublasLt.so.13']).toBe(`${site}/nvidia/cu13/lib/libcublasLt.so.13`);
    expect(result.loaded['libcublas.so.13']).toBe(`${site}/nvidia/cu13/lib/libcublas.so.13`);
  });

  it('names the missing library, where it looked, another major version it saw, and the setup command', () => {
    const m = machine({ files: ['/usr/local/cuda/lib64/libcudart.so.12'] });
    const result = loadCudaLibraries(m);
    expect('reason' in result).toBe(true);
    const { reason } = result as { reason: string };
    expect(reason).toContain('the CUDA 13 runtime (libcudart.so.13) was not found');
    expect(reason).toContain('/usr/local/cuda/lib64');
    expect(reason).toContain(
      'other major versions, which this build cannot use: /usr/local/cuda/lib64/libcudart.so.12',
    );
    expect(reason).toContain('npx beit cuda-setup');
    expect(reason).toContain("use device 'cpu'");
  });

  it('says there is no driver when libcuda.so.1 does not load, before looking for anything else', () => {
    const m = machine({ onPath: [], files: inFolder('/usr/local/cuda/lib64') });
    const { reason } = loadCudaLibraries(m) as { reason: string };
    expect(reason).toMatch(/the NVIDIA driver's library libcuda\.so\.1 did not load .*cannot open shared object file/);
    expect(reason).toContain('NVIDIA driver 580 or newer');
    expect(m.loads).toEqual(['libcuda.so.1']);
  });

  it('loads the driver BEIT_CUDA_DRIVER names', () => {
    const m = machine({
      onPath: RUNTIME,
      files: ['/drivers/libcuda.so.1'],
      env: { BEIT_CUDA_DRIVER: '/drivers/libcuda.so.1' },
    });
    expect(loadCudaLibraries(m)).toHaveProperty('loaded.libcuda\\.so\\.1', '/drivers/libcuda.so.1');
    expect(m.loads[0]).toBe('/drivers/libcuda.so.1');
  });

  it('goes on without NVRTC, which the addon does not link', () => {
    const linked = RUNTIME.filter((n) => n !== 'libnvrtc.so.13');
    const m = machine({ files: inFolder('/usr/local/cuda/lib64').filter((f) => !f.endsWith('libnvrtc.so.13')) });
    const result = loadCudaLibraries(m) as { loaded: Record<string, string> };
    expect(Object.keys(result.loaded).sort()).toEqual(['libcuda.so.1', ...linked].sort());
  });

  it("passes on the loader's words when a library is there but does not load", () => {
    const file = '/usr/local/cuda/lib64/libcublas.so.13';
    const m = machine({ files: inFolder('/usr/local/cuda/lib64'), broken: { [file]: 'wrong ELF class: ELFCLASS32' } });
    const { reason } = loadCudaLibraries(m) as { reason: string };
    expect(reason).toContain(`cuBLAS 13 (${file}) did not load: wrong ELF class: ELFCLASS32`);
  });

  it('installs the pins of the toolkit the build compiles against', async () => {
    const { readFileSync } = await import('node:fs');
    const toolkit = readFileSync(new URL('../scripts/cuda_toolkit.sh', import.meta.url), 'utf8');
    for (const wheel of CUDA_RUNTIME_WHEELS) expect(toolkit).toContain(`"${wheel}"`);
  });
});
