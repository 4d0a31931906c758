// Which binary loads, and what the error says when none can: hosts, installed packages and loader
// failures simulated through the loader's environment (the install spec does it for real).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type LoaderEnv, loadNativeBinding } from '../ts/native_loader.js';
import { describeHost, type HostInfo, targetName } from '../ts/native_target.js';

const glibcX64: HostInfo = { platform: 'linux', arch: 'x64', libc: 'glibc', glibcVersion: '2.31' };
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
    packageRoot: root,
    resolvePackageJson: (name) => manifests.get(name) ?? null,
    load: (file) => {
      loaded.push(file);
      return { file };
    },
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
});
