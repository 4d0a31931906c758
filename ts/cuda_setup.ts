/**
 * `beit cuda-setup`: installs NVIDIA's CUDA 13.0 runtime wheels (cudart, cuBLAS, cuRAND, NVRTC) with
 * pip into the folder the CUDA build's library search looks in first (`cudaSetupDir()`), for machines
 * that have an NVIDIA driver but no CUDA toolkit, PyTorch or conda environment to borrow them from.
 * It needs no native addon, so it runs where the CUDA build cannot load yet.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CUDA_RUNTIME_LIBRARIES, CUDA_RUNTIME_WHEELS, cudaSetupDir } from './cuda_libraries.js';

/** What `beit cuda-setup --help` prints. */
export const CUDA_SETUP_USAGE = `Usage: beit cuda-setup [--python <exe>] [--print]

Installs NVIDIA's CUDA 13.0 runtime libraries (pip wheels ${CUDA_RUNTIME_WHEELS.join(', ')})
into ${cudaSetupDir()}, where beit-node's CUDA build finds them with no LD_LIBRARY_PATH.
Needs Python 3 with pip, and an NVIDIA driver 580 or newer to use them.

  --python <exe>  the Python whose pip installs them (default: python3, else python)
  --print         print the pip command instead of running it`;

/** The pip command line that installs the wheels into `dir`. */
export function pipCommand(python: string, dir: string): string[] {
  return [
    python,
    '-m',
    'pip',
    'install',
    '--disable-pip-version-check',
    '--upgrade',
    '--target',
    dir,
    ...CUDA_RUNTIME_WHEELS,
  ];
}

/** Runs `beit cuda-setup` with its arguments; returns the exit code (0 done, 1 failed, 2 bad usage). */
export function cudaSetupMain(argv: string[]): number {
  let values: { python?: string; print?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { python: { type: 'string' }, print: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    console.error(`beit cuda-setup: ${(err as Error).message}\n\n${CUDA_SETUP_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(CUDA_SETUP_USAGE);
    return 0;
  }
  const dir = cudaSetupDir();
  const python = values.python ?? findPipPython();
  const command = pipCommand(python ?? 'python3', dir);
  if (values.print) {
    console.log(shellWords(command));
    return 0;
  }
  if (!python) {
    console.error(
      'beit cuda-setup: no Python with pip found on PATH (tried python3 and python). Install Python 3 with pip ' +
        `(on Debian or Ubuntu: apt install python3-pip), then run beit cuda-setup again, or run:\n  ${shellWords(command)}`,
    );
    return 1;
  }
  return install(command, dir);
}

/** Runs pip, then checks that every library is where the search looks. */
function install(command: string[], dir: string): number {
  console.error(`beit cuda-setup: ${shellWords(command)}`);
  const [exe = 'python3', ...args] = command;
  const run = spawnSync(exe, args, { stdio: 'inherit' });
  if (run.status !== 0) {
    const why = run.error ? run.error.message : `exit code ${run.status ?? run.signal}`;
    console.error(`beit cuda-setup: pip failed (${why}); the command above says what went wrong.`);
    return 1;
  }
  const lib = join(dir, 'nvidia', 'cu13', 'lib');
  const missing = CUDA_RUNTIME_LIBRARIES.filter((l) => !existsSync(join(lib, l.soname)));
  if (missing.length > 0) {
    console.error(
      `beit cuda-setup: pip finished, but ${missing.map((l) => l.soname).join(', ')} are not in ${lib}: ` +
        'the wheels pip chose are not the CUDA 13.0 ones. Report it with this message.',
    );
    return 1;
  }
  console.log(`CUDA 13.0 runtime libraries installed in ${lib}: beit-node's CUDA build finds them there.`);
  return 0;
}

/** `python3`, else `python`, whichever has pip; null when neither does. */
function findPipPython(): string | null {
  for (const python of ['python3', 'python']) {
    const run = spawnSync(python, ['-m', 'pip', '--version'], { stdio: 'ignore', timeout: 30_000 });
    if (run.status === 0) return python;
  }
  return null;
}

/** A command line a POSIX shell reads back as the same words. */
function shellWords(words: string[]): string {
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`)).join(' ');
}
