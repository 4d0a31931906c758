// The CUDA build of the addon (`npm run build:cuda`) on a machine without a GPU, as CI has, installed
// as a user installs it (beit-node with its CPU package and beit-node-linux-x64-gnu-cuda in node_modules)
// and run in fresh processes with no LD_LIBRARY_PATH. The CUDA 13 runtime libraries are the toolkit
// wheels' (scripts/cuda_toolkit.sh) laid out as a machine holds them: in a Python's site-packages as
// PyTorch installs them, as a CUDA toolkit, as a conda environment, by `beit cuda-setup`, or not at all.
// Where they are found, the CUDA build loads against the driver stub (BEIT_CUDA_DRIVER; it reports no
// GPU), answers 'cuda' with E_CUDA_UNAVAILABLE, and classifies on the CPU with the CPU build's numbers;
// where they are not, the CPU build runs and the reason names the missing library and `beit cuda-setup`.
// Run by `npm run test:cuda-build` after `npm run build:cuda` (CI does both).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CUDA_DRIVER_LIBRARY, CUDA_RUNTIME_LIBRARIES } from '../ts/cuda_libraries.js';
import { digitsReference, softmax } from './helpers/digits.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const binary =
  process.env.BEIT_CUDA_BUILD_BINARY ?? join(root, 'npm/linux-x64-gnu-cuda/beit-node.linux-x64-gnu-cuda.node');
const cpuBinary = join(root, 'native/beit-node.linux-x64-gnu.node');
const toolkitLib = join(root, '.cuda-toolkit/nvidia/cu13/lib');
const driverStub = join(toolkitLib, 'stubs/libcuda.so.1');
const wheels = join(root, '.cuda-toolkit/wheels');
const nodeDir = dirname(process.execPath);
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

/** What the child process found. */
interface Report {
  info: { build: boolean; devices: number; reason?: string; auto: string; libraries?: Record<string, string> };
  cudaError: { code: string; message: string } | null;
  device: string;
  results: { label: string; score: number }[][];
}

/** A project with beit-node installed: this checkout's dist and models, its CPU build, the CUDA build. */
function installedProject(): { dir: string; pkg: string } {
  const dir = mkdtempSync(join(tmpdir(), 'beit-cuda-install-'));
  const pkg = join(dir, 'node_modules', 'beit-node');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
  symlinkSync(join(root, 'models'), join(pkg, 'models'));
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'beit-node', version, type: 'module' }));
  platformPackage(dir, 'beit-node-linux-x64-gnu', cpuBinary);
  platformPackage(dir, 'beit-node-linux-x64-gnu-cuda', binary);
  return { dir, pkg };
}

function platformPackage(project: string, name: string, file: string): void {
  const dir = join(project, 'node_modules', name);
  mkdirSync(dir, { recursive: true });
  const main = `${name.replace(/^beit-node-/, 'beit-node.')}.node`;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version, main }));
  symlinkSync(file, join(dir, main));
}

const probe = (pkg: string) => `
const { BeitForImageClassification, bundledModelDir, cudaInfo } = await import(${JSON.stringify(pathToFileURL(join(pkg, 'dist/index.js')).href)});
const dir = bundledModelDir('beit-digits');
let cudaError = null;
try {
  await BeitForImageClassification.fromPretrained(dir, { device: 'cuda' });
} catch (e) {
  cudaError = { code: e.code, message: e.message };
}
const model = await BeitForImageClassification.fromPretrained(dir, { device: 'auto' });
const files = ${JSON.stringify(digitsReference.samples.map((s) => join(root, s.file)))};
const results = await model.classify(files, { topK: 10 });
await model.dispose();
console.log(JSON.stringify({ info: cudaInfo(), cudaError, device: model.device, results }));
`;

/** Runs the probe in a fresh process with only `env` (no LD_LIBRARY_PATH; PATH is Node's folder unless given). */
function run(project: { dir: string; pkg: string }, env: Record<string, string>): Report {
  const home = join(project.dir, 'home');
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', probe(project.pkg)], {
    cwd: project.dir,
    encoding: 'utf8',
    env: { PATH: nodeDir, HOME: home, XDG_CACHE_HOME: join(home, '.cache'), BEIT_CUDA_DRIVER: driverStub, ...env },
  });
  if (child.status !== 0) throw new Error(`the probe failed (${child.status}):\n${child.stderr}`);
  return JSON.parse(child.stdout) as Report;
}

/** The toolkit's libraries as a folder at `dir` (a link: the loader opens them by that path). */
function libraryFolder(dir: string): void {
  mkdirSync(dirname(dir), { recursive: true });
  symlinkSync(toolkitLib, dir);
}

/** What holds wherever the CUDA build loaded: no GPU seen, 'cuda' refused, 'auto' on the CPU, reference numbers. */
function expectCudaBuildWithoutGpu(report: Report, libraryDir: string): void {
  expect(report.info).toMatchObject({ build: true, devices: 0, auto: 'cpu' });
  expect(report.info.reason).toBeUndefined();
  for (const { soname } of CUDA_RUNTIME_LIBRARIES)
    expect(report.info.libraries?.[soname]).toBe(join(libraryDir, soname));
  expect(report.info.libraries?.[CUDA_DRIVER_LIBRARY.soname]).toBe(driverStub);
  expect(report.cudaError?.code).toBe('E_CUDA_UNAVAILABLE');
  expect(report.cudaError?.message).toMatch(/no CUDA GPU is visible/);
  expect(report.cudaError?.message).toMatch(/use device 'cpu'/);
  expectReferenceResults(report);
}

function expectReferenceResults(report: Report): void {
  expect(report.device).toBe('cpu');
  expect(report.results).toHaveLength(digitsReference.samples.length);
  digitsReference.samples.forEach((sample, i) => {
    const scores = softmax(sample.logits);
    expect(report.results[i]?.[0]?.label).toBe(sample.predicted);
    for (const { label, score } of report.results[i] ?? [])
      expect(score).toBeCloseTo(scores[Number(label)] ?? Number.NaN, 4);
  });
}

describe('the CUDA build of the addon, installed, without a GPU', () => {
  it('exists: npm run build:cuda wrote it, and the CPU build is there too', () => {
    expect(existsSync(binary), `${binary} is missing: run npm run build:cuda first`).toBe(true);
    expect(existsSync(cpuBinary), `${cpuBinary} is missing: run npm run build first`).toBe(true);
  });

  it('links exactly the libraries the loader finds for it', () => {
    const readelf = spawnSync('readelf', ['-d', binary], { encoding: 'utf8' });
    const needed = [...readelf.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g)].map((m) => m[1]);
    const cuda = needed.filter((name) => /^lib(cuda|cudart|cublas|cublasLt|curand|nvrtc)\.so/.test(name ?? ''));
    const linked = [CUDA_DRIVER_LIBRARY, ...CUDA_RUNTIME_LIBRARIES.filter((l) => l.required !== false)];
    expect(cuda.sort()).toEqual(linked.map((l) => l.soname).sort());
  });

  it("finds the runtime in a Python's site-packages, as PyTorch's CUDA 13 wheels lay it out", () => {
    const project = installedProject();
    const venv = join(project.dir, 'venv');
    const made = spawnSync('python3', ['-m', 'venv', '--without-pip', venv], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const site = spawnSync(join(venv, 'bin/python3'), ['-c', 'import site; print(site.getsitepackages()[0])'], {
      encoding: 'utf8',
    }).stdout.trim();
    libraryFolder(join(site, 'nvidia/cu13/lib'));
    // The venv's python3 first on PATH, as an activated environment has it.
    expectCudaBuildWithoutGpu(run(project, { PATH: `${join(venv, 'bin')}:${nodeDir}` }), join(site, 'nvidia/cu13/lib'));
  });

  it('finds the runtime in a CUDA toolkit named by CUDA_HOME', () => {
    const project = installedProject();
    const toolkit = join(project.dir, 'cuda-13.0');
    libraryFolder(join(toolkit, 'lib64'));
    expectCudaBuildWithoutGpu(run(project, { CUDA_HOME: toolkit }), join(toolkit, 'lib64'));
  });

  it('finds the runtime in the conda environment of CONDA_PREFIX', () => {
    const project = installedProject();
    const conda = join(project.dir, 'conda/envs/ml');
    libraryFolder(join(conda, 'lib'));
    expectCudaBuildWithoutGpu(run(project, { CONDA_PREFIX: conda }), join(conda, 'lib'));
  });

  it('without the runtime: the CPU build runs, and the reason names the missing library and beit cuda-setup', () => {
    const report = run(installedProject(), {});
    expect(report.info).toMatchObject({ build: false, devices: 0, auto: 'cpu' });
    expect(report.info.reason).toContain(
      'the CUDA package beit-node-linux-x64-gnu-cuda is installed, but the CUDA 13 runtime (libcudart.so.13) was not found',
    );
    expect(report.info.reason).toContain('npx beit cuda-setup');
    expect(report.cudaError?.code).toBe('E_CUDA_UNAVAILABLE');
    expect(report.cudaError?.message).toContain('libcudart.so.13');
    expect(report.cudaError?.message).toContain('npx beit cuda-setup');
    expectReferenceResults(report);
  });

  it('without a driver: the CPU build runs, and the reason says to install the NVIDIA driver', () => {
    const project = installedProject();
    libraryFolder(join(project.dir, 'cuda-13.0/lib64'));
    const report = run(project, { BEIT_CUDA_DRIVER: '', CUDA_HOME: join(project.dir, 'cuda-13.0') });
    expect(report.info.build).toBe(false);
    expect(report.info.reason).toMatch(/libcuda\.so\.1 did not load .*no NVIDIA driver/);
    expect(report.info.reason).toContain('NVIDIA driver 580 or newer');
    expectReferenceResults(report);
  });

  it('beit cuda-setup installs the pinned wheels with pip where the loader finds them', () => {
    const project = installedProject();
    const cache = join(project.dir, 'xdg-cache');
    const cli = join(project.pkg, 'dist/cli.js');
    const printed = spawnSync(process.execPath, [cli, 'cuda-setup', '--print'], {
      encoding: 'utf8',
      env: { ...process.env, XDG_CACHE_HOME: cache },
    });
    expect(printed.stdout).toContain(
      `python3 -m pip install --disable-pip-version-check --upgrade --target ${cache}/beit-node/cuda-13.0 'nvidia-cuda-runtime==13.0.*'`,
    );
    // pip installs from the wheels scripts/cuda_toolkit.sh downloaded: no network at test time. Its
    // Python (a venv with pip) stands in for the user's, whose pip this machine may lack.
    const python = join(root, '.cuda-toolkit/.pip/bin/python');
    const setup = spawnSync(process.execPath, [cli, 'cuda-setup', '--python', python], {
      encoding: 'utf8',
      env: { ...process.env, XDG_CACHE_HOME: cache, PIP_NO_INDEX: '1', PIP_FIND_LINKS: wheels },
    });
    expect(setup.status, setup.stderr).toBe(0);
    expect(setup.stdout).toContain('CUDA 13.0 runtime libraries installed in');
    const installed = join(cache, 'beit-node/cuda-13.0/nvidia/cu13/lib');
    expectCudaBuildWithoutGpu(run(project, { XDG_CACHE_HOME: cache }), installed);
  });
});
