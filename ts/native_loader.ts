/**
 * The one place that decides which native binary loads, and says what to do when none can.
 *
 * Candidates, first match wins:
 * 1. `BEIT_NODE_BINARY`: an explicit path to a `.node` file (a build of your own);
 * 2. `native/beit-node.<target>.node` inside the package: a development checkout's own build;
 * 3. the platform package `beit-node-<target>` that npm installs as an optional dependency.
 * A CUDA build is a package of its own (`beit-node-<target>-cuda`); when it ships, it slots in as a
 * candidate before 3, and nothing outside this file needs to know.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BeitError } from './errors.js';
import {
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
  /** The root of the `beit-node` package (where its package.json is). */
  packageRoot: string;
  /** Resolves a package's package.json from the `beit-node` package, or returns null. */
  resolvePackageJson(name: string): string | null;
  /** Loads a `.node` file. */
  load(file: string): unknown;
}

/** The environment of this process. */
export function processLoaderEnv(): LoaderEnv {
  const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
  const require = createRequire(join(packageRoot, 'package.json'));
  return {
    host: currentHost(),
    override: process.env.BEIT_NODE_BINARY || undefined,
    packageRoot,
    resolvePackageJson(name) {
      try {
        return require.resolve(`${name}/package.json`);
      } catch {
        return null;
      }
    },
    load: (file) => require(file),
  };
}

/** Loads the native binding for this process, or throws a `BeitError` (`E_NATIVE_BINDING`) that says what to do. */
export function loadNativeBinding<T>(env: LoaderEnv = processLoaderEnv()): T {
  const target = targetName(env.host);
  if (env.override) return loadFile(env, env.override, 'BEIT_NODE_BINARY') as T;
  const local = join(env.packageRoot, 'native', `${PACKAGE}.${target}.node`);
  if (existsSync(local)) return loadFile(env, local, 'the build in native/') as T;
  const name = `${PACKAGE}-${target}`;
  const manifest = env.resolvePackageJson(name);
  if (!manifest) throw missingPackage(env, target);
  const platform = JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string; main?: string };
  checkVersion(env, name, manifest, platform.version);
  const main = platform.main ?? `${PACKAGE}.${target}.node`;
  return loadFile(env, join(dirname(manifest), main), `the package ${name}`) as T;
}

/** The host in words, glibc version included (found only now: it costs a process report). */
function hostWords(host: HostInfo): string {
  return describeHost(withGlibcVersion(host));
}

function loadFile(env: LoaderEnv, file: string, what: string): unknown {
  try {
    return env.load(file);
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

function missingPackage(env: LoaderEnv, target: string): BeitError {
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
      '--no-optional. In a Docker build, run npm install inside the image it runs in.',
  );
}

/** On Linux, the package for the other C library may be the one that is there. */
function otherLibcNote(env: LoaderEnv, target: string): string {
  if (env.host.platform !== 'linux') return '';
  const other = target.endsWith('-musl') ? target.replace(/-musl$/, '-gnu') : target.replace(/-gnu$/, '-musl');
  if (!env.resolvePackageJson(`${PACKAGE}-${other}`)) return '';
  return `${PACKAGE}-${other} is installed, but it is built for ${other.endsWith('-musl') ? 'musl' : 'glibc'} and this system runs ${env.host.libc}, so it cannot load here. `;
}

/** The platform package must be the version the JS side was released with: their API moves together. */
function checkVersion(env: LoaderEnv, name: string, manifest: string, found: string | undefined): void {
  const own = JSON.parse(readFileSync(join(env.packageRoot, 'package.json'), 'utf8')) as { version?: string };
  const wanted = own.version;
  if (wanted === found) return;
  throw new BeitError(
    'E_NATIVE_BINDING',
    `beit-node ${wanted} needs ${name} ${wanted}, but ${name} ${found} is installed (${manifest}). ` +
      'Reinstall beit-node so that npm installs the matching binary: delete node_modules and run npm install.',
  );
}
