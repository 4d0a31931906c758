// Which binary loads, and what the error says when none can: hosts, installed packages and loader
// failures simulated through the loader's environment (the install spec does it for real).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type LoaderEnv, loadNativeBinding, selectNativeBinding } from '../ts/native_loader.js';
import { describeHost, type HostInfo, targetName } from '../ts/native_target.js';

const glibcX64: HostInfo = { platform: 'linux', arch: 'x64', libc: 'glibc', glibcVersion: '2.31' };
const glibcArm64: HostInfo = { platform: 'linux', arch: 'arm64', libc: 'glibc', glibcVersion: '2.31' };
const muslArm64: HostInfo = { platform: 'linux', arch: 'arm64', libc: 'musl', glibcVersion: null };

/** A package root with `beit-node` at `version` and the given platform packages installed beside it. */
function fakeEnv(
  host: HostInfo,
  installed: Record<string, string>,
  version = '1.2.3',
): LoaderEnv & { loaded: string[] } {
  const root = mkdtempSync(join(tmpdir(), 'beit-loader-'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'beit-node', version }));
  const manifests = new Map<string, string>();
  for (const [name, v] of Object.entries(installed)) {
    const dir = join(root, 'node_modules', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: v, main: `${name}.node` }));
    manifests.set(name, join(dir, 'package.json'));
  }
  const loaded: string[] = [];
  return {
    host,
    override: undefined,
    cudaSwitch: undefined,
    packageRoot: root,
    resolvePackageJson: (name) => manifests.get(name) ?? null,
    load: (file) => {
      loaded.push(file);
      return { file };
    },
    loadCudaLibraries: () => ({ loaded: {} }),
    loaded,
  };
}

function loadError(env: LoaderEnv): { code: string; message: string } {
  try {
    loadNativeBinding(env);
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected the load to fail');
}

describe('the native loader', () => {
  it('names targets as napi-rs does', () => {
    expect(targetName(glibcX64)).toBe('linux-x64-gnu');
    expect(targetName(muslArm64)).toBe('linux-arm64-musl');
    expect(targetName({ platform: 'win32', arch: 'x64', libc: null, glibcVersion: null })).toBe('win32-x64-msvc');
    expect(targetName({ platform: 'darwin', arch: 'arm64', libc: null, glibcVersion: null })).toBe('darwin-arm64');
    expect(describeHost(glibcX64)).toBe('linux x64 (glibc 2.31)');
    expect(describeHost(muslArm64)).toBe('linux arm64 (musl libc)');
  });

  it('loads the platform package of the same version', () => {
    const env = fakeEnv(glibcX64, { 'beit-node-linux-x64-gnu': '1.2.3' });
    expect(loadNativeBinding(env)).toEqual({ file: expect.stringMatching(/beit-node-linux-x64-gnu\.node$/) });
  });

  it('prefers BEIT_NODE_BINARY, then the build in native/, to the package', () => {
    const env = fakeEnv(glibcX64, { 'beit-node-linux-x64-gnu': '1.2.3' });
    mkdirSync(join(env.packageRoot, 'native'));
    const local = join(env.packageRoot, 'native', 'beit-node.linux-x64-gnu.node');
    writeFileSync(local, '');
    loadNativeBinding(env);
    loadNativeBinding({ ...env, override: '/opt/custom.node' });
    expect(env.loaded).toEqual([local, '/opt/custom.node']);
  });

  it('on musl with only the glibc package installed, says why that one cannot load', () => {
    const { code, message } = loadError(fakeEnv(muslArm64, { 'beit-node-linux-arm64-gnu': '1.2.3' }));
    expect(code).toBe('E_NATIVE_BINDING');
    expect(message).toContain('linux arm64 (musl libc)');
    expect(message).toContain('the package beit-node-linux-arm64-musl is not installed');
    expect(message).toContain(
      'beit-node-linux-arm64-gnu is installed, but it is built for glibc and this system runs musl',
    );
    expect(message).toContain('run npm install');
  });

  it('on a platform without a prebuilt binary, lists the ones there are and how to build one', () => {
    const freebsd: HostInfo = { platform: 'freebsd', arch: 'x64', libc: null, glibcVersion: null };
    const { code, message } = loadError(fakeEnv(freebsd, {}));
    expect(code).toBe('E_NATIVE_BINDING');
    expect(message).toContain('no prebuilt binary for freebsd x64 (looked for the package beit-node-freebsd-x64)');
    expect(message).toContain('linux-x64-gnu, linux-x64-musl, linux-arm64-gnu');
    expect(message).toContain('BEIT_NODE_BINARY');
  });

  it('refuses a platform package of another version', () => {
    const { message } = loadError(fakeEnv(glibcX64, { 'beit-node-linux-x64-gnu': '1.2.0' }));
    expect(message).toContain(
      'beit-node 1.2.3 needs beit-node-linux-x64-gnu 1.2.3, but beit-node-linux-x64-gnu 1.2.0 is installed',
    );
  });

  it('says a binary that needs a newer glibc needs one, and names the file', () => {
    const env = fakeEnv(glibcX64, { 'beit-node-linux-x64-gnu': '1.2.3' });
    env.load = () => {
      throw new Error("/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.34' not found");
    };
    const { message } = loadError(env);
    expect(message).toMatch(/beit-node-linux-x64-gnu\.node\) failed to load on linux x64 \(glibc 2\.31\)/);
    expect(message).toContain('needs a newer glibc than this system');
    expect(message).toContain('glibc 2.17 or newer');
  });

  describe('with the CUDA package', () => {
    const cpu = 'beit-node-linux-x64-gnu';
    const cuda = 'beit-node-linux-x64-gnu-cuda';
    const noDriver = 'libcuda.so.1: cannot open shared object file: No such file or directory';

    /** The env with `load` failing for files that match `failing`, as the dynamic loader would. */
    function failingLoad(env: LoaderEnv & { loaded: string[] }, failing: RegExp, message: string) {
      env.load = (file) => {
        env.loaded.push(file);
        if (failing.test(file)) throw new Error(`${file}: ${message}`);
        return { file };
      };
      return env;
    }

    it('prefers it to the CPU package when it loads', () => {
      const env = fakeEnv(glibcX64, { [cpu]: '1.2.3', [cuda]: '1.2.3' });
      const { binding, cudaReason } = selectNativeBinding(env);
      expect(binding).toEqual({ file: expect.stringMatching(/beit-node-linux-x64-gnu-cuda\.node$/) });
      expect(cudaReason).toBeUndefined();
      expect(env.loaded).toHaveLength(1);
    });

    it('falls back to the CPU package when it does not load, and keeps the reason', () => {
      const env = failingLoad(fakeEnv(glibcX64, { [cpu]: '1.2.3', [cuda]: '1.2.3' }), /-cuda\.node$/, noDriver);
      const { binding, cudaReason } = selectNativeBinding(env);
      expect(binding).toEqual({ file: expect.stringMatching(/beit-node-linux-x64-gnu\.node$/) });
      expect(env.loaded).toHaveLength(2);
      expect(cudaReason).toContain(`the CUDA package ${cuda} is installed but did not load`);
      expect(cudaReason).toContain(noDriver);
      expect(cudaReason).toContain('no NVIDIA driver');
      expect(cudaReason).toContain('NVIDIA driver 580 or newer');
    });

    it('says a driver too old when the dynamic loader misses a driver entry point', () => {
      const env = failingLoad(
        fakeEnv(glibcX64, { [cpu]: '1.2.3', [cuda]: '1.2.3' }),
        /-cuda\.node$/,
        'undefined symbol: cuCtxCreate_v4',
      );
      expect(selectNativeBinding(env).cudaReason).toContain(
        'driver is older than the CUDA build needs: update it to 580',
      );
    });

    it('says which CUDA libraries are missing when the dynamic loader cannot find them', () => {
      const env = failingLoad(
        fakeEnv(glibcX64, { [cpu]: '1.2.3', [cuda]: '1.2.3' }),
        /-cuda\.node$/,
        'libcublas.so.13: cannot open shared object file: No such file or directory',
      );
      expect(selectNativeBinding(env).cudaReason).toContain('runtime library it links');
      expect(selectNativeBinding(env).cudaReason).toContain('npx beit cuda-setup');
    });

    it('loads the CUDA libraries before it, and falls back with their reason when one is missing', () => {
      const env = fakeEnv(glibcX64, { [cpu]: '1.2.3', [cuda]: '1.2.3' });
      env.loadCudaLibraries = () => ({ reason: 'cuBLAS 13 (libcublas.so.13) was not found' });
      const { binding, cudaReason } = selectNativeBinding(env);
      expect(binding).toEqual({ file: expect.stringMatching(/beit-node-linux-x64-gnu\.node$/) });
      // The CUDA build was never tried: the loader would only have failed on the same library.
      expect(env.loaded).toHaveLength(1);
      expect(cudaReason).toBe(`the CUDA package ${cuda} is installed, but cuBLAS 13 (libcublas.so.13) was not found`);
    });

    it('loads a CUDA build named by BEIT_NODE_BINARY again once the CUDA libraries are loaded', () => {
      const env = { ...fakeEnv(glibcX64, { [cpu]: '1.2.3' }), override: '/builds/own-cuda.node' };
      let librariesLoaded = false;
      env.loadCudaLibraries = () => {
        librariesLoaded = true;
        return { loaded: {} };
      };
      env.load = (file) => {
        env.loaded.push(file);
        if (!librariesLoaded)
          throw new Error('libcudart.so.13: cannot open shared object file: No such file or directory');
        return { file };
      };
      expect(loadNativeBinding(env)).toEqual({ file: '/builds/own-cuda.node' });
      expect(env.loaded).toEqual(['/builds/own-cuda.node', '/builds/own-cuda.node']);
    });

    it('says why a CUDA build named by BEIT_NODE_BINARY cannot load when a CUDA library is missing', () => {
      const env = { ...fakeEnv(glibcX64, { [cpu]: '1.2.3' }), override: '/builds/own-cuda.node' };
      env.loadCudaLibraries = () => ({ reason: 'the CUDA 13 runtime (libcudart.so.13) was not found' });
      env.load = () => {
        throw new Error('libcudart.so.13: cannot open shared object file: No such file or directory');
      };
      const { code, message } = loadError(env);
      expect(code).toBe('E_NATIVE_BINDING');
      expect(message).toContain('it is a CUDA build, and the CUDA 13 runtime (libcudart.so.13) was not found');
    });

    it('does not search for CUDA libraries for a binary that fails for another reason', () => {
      const env = { ...fakeEnv(glibcX64, { [cpu]: '1.2.3' }), override: '/builds/broken.node' };
      env.loadCudaLibraries = () => {
        throw new Error('searched');
      };
      env.load = () => {
        throw new Error('/builds/broken.node: invalid ELF header');
      };
      expect(loadError(env).message).toContain('invalid ELF header');
    });

    it('is skipped with BEIT_NODE_CUDA=0', () => {
      const env = { ...fakeEnv(glibcX64, { [cpu]: '1.2.3', [cuda]: '1.2.3' }), cudaSwitch: '0' };
      const { binding, cudaReason } = selectNativeBinding(env);
      expect(binding).toEqual({ file: expect.stringMatching(/beit-node-linux-x64-gnu\.node$/) });
      expect(env.loaded).toHaveLength(1);
      expect(cudaReason).toContain('BEIT_NODE_CUDA=0 skips the CUDA package');
    });

    it('is not loaded at another version', () => {
      const env = fakeEnv(glibcX64, { [cpu]: '1.2.3', [cuda]: '1.2.0' });
      const { binding, cudaReason } = selectNativeBinding(env);
      expect(binding).toEqual({ file: expect.stringMatching(/beit-node-linux-x64-gnu\.node$/) });
      expect(cudaReason).toContain(`beit-node 1.2.3 needs ${cuda} 1.2.3, but 1.2.0 is installed`);
      expect(cudaReason).toContain(`npm install ${cuda}@1.2.3`);
    });

    it('is looked for only on targets that have one', () => {
      const env = fakeEnv(glibcArm64, {
        'beit-node-linux-arm64-gnu': '1.2.3',
        'beit-node-linux-arm64-gnu-cuda': '1.2.3',
      });
      const { binding, cudaReason } = selectNativeBinding(env);
      expect(binding).toEqual({ file: expect.stringMatching(/beit-node-linux-arm64-gnu\.node$/) });
      expect(env.loaded).toHaveLength(1);
      expect(cudaReason).toContain('CUDA build is for linux-x64-gnu only');
      expect(cudaReason).toContain('this is linux arm64 (glibc 2.31)');
    });

    it('when it is not installed, the reason says how to install it', () => {
      const { cudaReason } = selectNativeBinding(fakeEnv(glibcX64, { [cpu]: '1.2.3' }));
      expect(cudaReason).toContain(`npm install ${cuda} (Linux x64 with glibc only)`);
      expect(cudaReason).toContain('NVIDIA driver 580 or newer (CUDA 13.0)');
    });

    it('comes after BEIT_NODE_BINARY and the build in native/, and the reason says so', () => {
      const env = fakeEnv(glibcX64, { [cpu]: '1.2.3', [cuda]: '1.2.3' });
      const { cudaReason } = selectNativeBinding({ ...env, override: '/opt/custom.node' });
      expect(env.loaded).toEqual(['/opt/custom.node']);
      expect(cudaReason).toContain(
        `BEIT_NODE_BINARY (/opt/custom.node) was loaded: it comes before the CUDA package ${cuda}`,
      );
    });

    it('when neither loads, the error names both reasons', () => {
      const env = failingLoad(fakeEnv(glibcX64, { [cuda]: '1.2.3' }), /-cuda\.node$/, noDriver);
      const { code, message } = loadError(env);
      expect(code).toBe('E_NATIVE_BINDING');
      expect(message).toContain(`the package ${cpu} is not installed`);
      expect(message).toContain(`(The CUDA build: the CUDA package ${cuda} is installed but did not load`);
    });
  });
});
