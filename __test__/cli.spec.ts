// The `beit` command line, run as a user runs it: a child process, its output and its exit code.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { childOutput } from './helpers/child_output.js';
import { startImageServer } from './helpers/image_server.js';
import { startMockHub } from './helpers/mockHub.js';
import { readGrayPng } from './helpers/png.js';
import { referenceDir } from './helpers/reference.js';
import { readSafetensors } from './helpers/safetensors.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const images = ['chelsea.png', 'grace_hopper.jpg', 'coffee.png'].map((f) => join(referenceDir, '../images', f));

function beit(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** As `beit`, without blocking this process (which may be serving the CLI a local hub). */
async function beitAsync(env: Record<string, string>, ...args: string[]) {
  return childOutput(spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env } }));
}

/** A reference checkpoint with a preprocessor for its 32x32 inputs. */
function model(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'beit-cli-'));
  for (const file of ['config.json', 'model.safetensors'])
    copyFileSync(join(referenceDir, name, file), join(dir, file));
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ size: 32, do_center_crop: false }));
  return dir;
}

/** A checkpoint directory without preprocessor_config.json, as some repos are. */
function bareModel(name: string): string {
  const dir = model(name);
  rmSync(join(dir, 'preprocessor_config.json'));
  return dir;
}

/** A directory with only a preprocessor_config.json of `config`. */
function processorDir(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'beit-cli-processor-'));
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(config));
  return dir;
}

/** Width and height from a PNG's IHDR. */
function pngSize(file: string): [number, number] {
  const bytes = readFileSync(file);
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

describe('beit CLI', () => {
  it('classify prints the top-k labels per image', () => {
    const r = beit(
      'classify',
      ...images,
      '--model',
      model('cls_relpos_meanpool'),
      '--top-k',
      '2',
      '--batch-size',
      '2',
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    const results = JSON.parse(r.out);
    expect(results.map((x: { image: string }) => x.image)).toEqual(images);
    for (const { predictions } of results) {
      expect(predictions).toHaveLength(2);
      expect(predictions[0].label).toMatch(/^LABEL_\d$/);
      expect(predictions[0].score).toBeGreaterThanOrEqual(predictions[1].score);
    }
    const text = beit('classify', images[0] as string, '--model', model('cls_relpos_meanpool'), '--top-k', '1');
    expect(text.out).toMatch(/chelsea\.png\n {2}0\.\d{4} {2}LABEL_\d\n$/);
    // On three threads of its own: the same answer.
    const threads = beit(
      'classify',
      images[0] as string,
      '--model',
      model('cls_relpos_meanpool'),
      '--top-k',
      '1',
      '--threads',
      '3',
    );
    expect(threads.out).toBe(text.out);
  });

  it('segment writes a colour PNG per image at its size', () => {
    const out = mkdtempSync(join(tmpdir(), 'beit-cli-out-'));
    const r = beit('segment', ...images, '--model', model('seg_upernet_aux'), '--out', out);
    expect(r.code, r.err).toBe(0);
    expect(pngSize(join(out, 'chelsea.png'))).toEqual([451, 300]);
    expect(pngSize(join(out, 'grace_hopper.png'))).toEqual([512, 600]);
    expect(r.out).toMatch(/coffee\.png -> .*coffee\.png \(400x600\)/);
  });

  it('takes http URLs: the same labels as the file, and output files named after the URL path', async () => {
    const server = await startImageServer(readFileSync(images[0] as string));
    try {
      const dir = model('cls_relpos_meanpool');
      const fromFile = beit('classify', images[0] as string, '--model', dir, '--json');
      const fromUrl = await beitAsync({}, 'classify', `${server.origin}/image.png`, '--model', dir, '--json');
      expect(fromUrl.code, fromUrl.err).toBe(0);
      const labels = (r: { out: string }) => (JSON.parse(r.out) as { predictions: unknown }[])[0]?.predictions;
      expect(labels(fromUrl)).toEqual(labels(fromFile));
      const out = mkdtempSync(join(tmpdir(), 'beit-cli-out-'));
      const seg = await beitAsync(
        {},
        'segment',
        `${server.origin}/redirect?x=1`,
        '--model',
        model('seg_upernet_aux'),
        '--out',
        out,
      );
      expect(seg.code, seg.err).toBe(0);
      expect(pngSize(join(out, 'redirect.png'))).toEqual([451, 300]);
      const missing = await beitAsync({}, 'classify', `${server.origin}/missing`, '--model', dir);
      expect(missing.code).toBe(1);
      expect(missing.err).toMatch(/\/missing: the server answered 404.*\[E_NOT_FOUND\]/);
    } finally {
      await server.close();
    }
  });

  it("depth writes the depth pipeline's grey picture per image at its size, also as --task depth-estimation", () => {
    const dir = join(referenceDir, 'dpt_beit_depth');
    const want = readSafetensors(join(dir, 'pipeline.safetensors'));
    const pictures = ['chelsea.png', 'astronaut.png'].map((f) => join(referenceDir, '../images', f));
    const out = mkdtempSync(join(tmpdir(), 'beit-cli-depth-'));
    const r = beit('depth', ...pictures, '--model', dir, '--out', out, '--json');
    expect(r.code, r.err).toBe(0);
    const written = JSON.parse(r.out) as { image: string; depth: string; height: number; width: number }[];
    expect(written.map((w) => [w.height, w.width])).toEqual([
      [300, 451],
      [512, 512],
    ]);
    for (const [i, w] of written.entries()) {
      const png = readGrayPng(w.depth);
      const reference = want.get(`depth.${i}`);
      if (!reference) throw new Error(`reference has no depth.${i}`);
      expect([png.height, png.width]).toEqual(reference.dims);
      // Within 1e-4 of HF's depth, a pixel can fall one grey level off, never more.
      expect(png.data.filter((v, k) => Math.abs(v - (reference.data[k] ?? 0)) > 1).length).toBe(0);
    }
    const viaTask = mkdtempSync(join(tmpdir(), 'beit-cli-depth-'));
    const t = beit('--task', 'depth-estimation', pictures[0] as string, '--model', dir, '--out', viaTask);
    expect(t.code, t.err).toBe(0);
    expect(readFileSync(join(viaTask, 'chelsea.png'))).toEqual(readFileSync(join(out, 'chelsea.png')));
    expect(beit('--task', 'depth', 'x.jpg').err).toMatch(/unknown --task depth: expected one of image-classification/);
  });

  it('embed writes pooled features as JSON or .npy', () => {
    const dir = model('cls_relpos_meanpool');
    const json = beit('embed', ...images, '--model', dir);
    expect(json.code, json.err).toBe(0);
    const rows = JSON.parse(json.out);
    expect(rows.map((r: { embedding: number[] }) => r.embedding.length)).toEqual([32, 32, 32]);
    const file = join(mkdtempSync(join(tmpdir(), 'beit-npy-')), 'features.npy');
    expect(beit('embed', ...images, '--model', dir, '--npy', file).code).toBe(0);
    const bytes = readFileSync(file);
    expect(bytes.subarray(0, 6).toString('latin1')).toBe('\x93NUMPY');
    const headerLength = bytes.readUInt16LE(8);
    expect(bytes.subarray(10, 10 + headerLength).toString()).toContain("'shape': (3, 32)");
    expect((10 + headerLength) % 64).toBe(0);
    const first = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 10 + headerLength)).slice(0, 32);
    expect(Array.from(first).map((v) => v.toFixed(4))).toEqual(rows[0].embedding.map((v: number) => v.toFixed(4)));
  });

  it('mim predicts visual tokens for the masked patches', () => {
    const r = beit('mim', images[0] as string, '--model', model('mim_shared_relpos'), '--json', '--mask-ratio', '0.5');
    expect(r.code, r.err).toBe(0);
    const [{ masked }] = JSON.parse(r.out);
    expect(masked.length).toBeGreaterThan(10);
    expect(masked.length).toBeLessThan(54);
    for (const m of masked) expect(m.token).toBeLessThan(50);
  });

  it('bench reports throughput', () => {
    const r = beit('bench', '--model', model('cls_relpos_meanpool'), '--batch-size', '2', '--runs', '1', '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ batchSize: 2, runs: 1 });
  });

  it('downloads a repo id from HF_ENDPOINT with a progress report, then runs offline', async () => {
    const dir = model('cls_relpos_meanpool');
    const hub = await startMockHub({
      'org/tiny': { 'config.json': dir, 'model.safetensors': dir, 'preprocessor_config.json': dir },
    });
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: mkdtempSync(join(tmpdir(), 'beit-cli-cache-')) };
    try {
      const first = await beitAsync(env, 'classify', images[0] ?? '', '--model', 'org/tiny', '--json');
      expect(first.code, first.err).toBe(0);
      expect(first.err).toMatch(/Downloading model.safetensors \([\d.]+ MB\)\nDownloaded model.safetensors/);
      expect(JSON.parse(first.out)[0].predictions).toHaveLength(5);
      const offline = await beitAsync(
        { ...env, HF_HUB_OFFLINE: '1' },
        'classify',
        images[0] ?? '',
        '--model',
        'org/tiny',
        '--json',
      );
      expect(offline.code, offline.err).toBe(0);
      expect(offline.out).toBe(first.out);
      expect(offline.err).toBe('');
      const unknown = await beitAsync(env, 'classify', images[0] ?? '', '--model', 'org/other');
      expect(unknown.code).toBe(1);
      expect(unknown.err).toMatch(/repository org\/other was not found .*\[E_NOT_FOUND\]/);
    } finally {
      await hub.close();
    }
  });

  it('takes the image processor from --processor or, with --default-processor, HF defaults when the model has none', () => {
    const bare = bareModel('cls_relpos_meanpool');
    const image = images[0] as string;
    for (const command of ['classify', 'embed']) {
      const none = beit(command, image, '--model', bare);
      expect(none.code).toBe(1);
      expect(none.err).toMatch(
        /has no preprocessor_config\.json .*pass --processor <dir\|repo> .*or --default-processor .*\[E_CONFIG\]\n$/,
      );
      expect(none.err).not.toMatch(/\{ processor \}/);
    }

    const own = beit('classify', image, '--model', model('cls_relpos_meanpool'), '--json');
    const given = beit(
      'classify',
      image,
      '--model',
      bare,
      '--processor',
      processorDir({ size: 32, do_center_crop: false }),
      '--json',
    );
    expect(given.code, given.err).toBe(0);
    expect(given.out).toBe(own.out);
    expect(given.err).toBe('');

    // HF's BeitImageProcessor() resizes to 256 and crops 224; for this 32x32 model, 37 and 32.
    const hfDefaults = processorDir({
      size: { height: 37, width: 37 },
      resample: 3,
      do_center_crop: true,
      crop_size: { height: 32, width: 32 },
      image_mean: [0.5, 0.5, 0.5],
      image_std: [0.5, 0.5, 0.5],
    });
    const expected = beit('classify', image, '--model', bare, '--processor', hfDefaults, '--json');
    const defaults = beit('classify', image, '--model', bare, '--default-processor', '--json');
    expect(defaults.code, defaults.err).toBe(0);
    expect(defaults.out).toBe(expected.out);
    expect(defaults.err).toMatch(
      /^beit: warning: .* has no preprocessor_config\.json; using HF's BeitImageProcessor defaults \(bicubic resize to 37x37, centre crop 32x32, mean and std 0\.5\)/,
    );
    expect(beit('embed', image, '--model', bare, '--default-processor').code).toBe(0);

    const both = beit('classify', image, '--model', bare, '--processor', hfDefaults, '--default-processor');
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/--processor and --default-processor exclude each other/);
    const empty = beit('classify', image, '--model', bare, '--processor', tmpdir());
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(
      /^beit: --processor .*: no preprocessor_config\.json in .*: give a checkpoint directory .*--default-processor \[E_CONFIG\]\n$/,
    );
    expect(beit('--help').out).toMatch(/--processor <dir\|repo>[\s\S]*--default-processor/);
  });

  it('exits 2 on bad usage and 1 on failure, saying why', () => {
    expect(beit().code).toBe(2);
    expect(beit('--help').code).toBe(0);
    const unknown = beit('paint', 'x.jpg');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown command paint/);
    expect(beit('classify', 'x.jpg', '--top-k', 'many').err).toMatch(/--top-k must be a positive integer/);
    expect(beit('classify', 'x.jpg', '--threads', '0').err).toMatch(/--threads must be a positive integer/);
    expect(beit('segment', 'x.jpg').err).toMatch(/needs --out DIR/);
    const missing = beit('classify', 'x.jpg', '--model', 'nobody/nothing', '--cache-dir', tmpdir(), '--offline');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/not in the HuggingFace cache.*offline mode.*\[E_NOT_FOUND\]/);
    const badImage = beit('classify', '/no/such.jpg', '--model', model('cls_relpos_meanpool'));
    expect(badImage.code).toBe(1);
    expect(badImage.err).toMatch(/image 0 \(\/no\/such.jpg\): the file does not exist \[E_IMAGE\]/);
  });

  it('cuda-setup prints the pip command of the pinned wheels, and refuses unknown options', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'beit-cli-cache-'));
    const printed = await beitAsync(
      { XDG_CACHE_HOME: cache },
      'cuda-setup',
      '--print',
      '--python',
      '/opt/py/bin/python3',
    );
    expect(printed.code).toBe(0);
    expect(printed.out.trim()).toBe(
      `/opt/py/bin/python3 -m pip install --disable-pip-version-check --upgrade --target ${cache}/beit-node/cuda-13.0 ` +
        "'nvidia-cuda-runtime==13.0.*' 'nvidia-cublas==13.0.*' 'nvidia-curand==10.4.0.*' 'nvidia-cuda-nvrtc==13.0.*'",
    );
    const help = beit('cuda-setup', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: beit cuda-setup');
    const bad = beit('cuda-setup', '--everything');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/Unknown option '--everything'/);
  });
});
