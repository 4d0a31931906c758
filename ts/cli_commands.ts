/**
 * The commands of the `beit` command line (`cli.ts` is its entry point): classify, segment, depth,
 * embed, masked image modeling and a benchmark, on any BEiT checkpoint directory or HuggingFace repo
 * id (downloaded with a progress bar on stderr); `--task` names a command by its pipeline task.
 * Exit codes: 0 done, 1 failed, 2 bad usage.
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { chooseProcessor } from './cli_processor.js';
import { DEFAULT_DEPTH_MODEL, DEFAULT_MODEL, USAGE } from './cli_usage.js';
import { BeitConfig } from './config.js';
import { BeitError } from './errors.js';
import type { HubOptions } from './hub.js';
import {
  BeitForImageClassification,
  BeitForMaskedImageModeling,
  BeitForSemanticSegmentation,
  BeitModel,
  DPTForDepthEstimation,
} from './models.js';
import { native } from './native.js';
import type { DeviceName, DTypeName, LoadOptions } from './options.js';
import type { PipelineTask } from './pipeline.js';
import type { BeitImageProcessor } from './processor.js';
import { progressBar } from './progress_bar.js';
import { isSize, MAX_SIZE } from './sizes.js';
import { Tensor } from './tensor.js';

class UsageError extends Error {}

type Options = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      task: { type: 'string' },
      queue: { type: 'string' },
      redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
      concurrency: { type: 'string', default: '16' },
      'files-root': { type: 'string' },
      'health-port': { type: 'string' },
      'health-host': { type: 'string', default: '127.0.0.1' },
      revision: { type: 'string' },
      'cache-dir': { type: 'string' },
      offline: { type: 'boolean', default: false },
      device: { type: 'string', default: 'cpu' },
      dtype: { type: 'string', default: 'float32' },
      threads: { type: 'string' },
      'batch-size': { type: 'string', default: '8' },
      'top-k': { type: 'string', default: '5' },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      npy: { type: 'string' },
      'mask-ratio': { type: 'string', default: '0.4' },
      seed: { type: 'string', default: '0' },
      runs: { type: 'string', default: '5' },
      random: { type: 'boolean', default: false },
      processor: { type: 'string' },
      'default-processor': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!isSize(n)) throw new UsageError(`--${name} must be a positive integer up to ${MAX_SIZE}, got ${value}`);
  return n;
}

/** Where repo ids come from; `--revision` is the model's, not the processor's. */
function hubOptions(o: Options): HubOptions {
  return {
    ...(o['cache-dir'] ? { cacheDir: o['cache-dir'] } : {}),
    localFilesOnly: o.offline,
    onProgress: progressBar(),
  };
}

function loadOptions(o: Options): LoadOptions {
  return {
    device: o.device as DeviceName,
    dtype: o.dtype as DTypeName,
    ...(o.threads === undefined ? {} : { threads: positiveInt('threads', o.threads) }),
    ...(o.revision ? { revision: o.revision } : {}),
    ...hubOptions(o),
  };
}

function batches<T>(items: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
}

function requireImages(images: string[]): void {
  if (images.length === 0) throw new UsageError('no images given');
}

/** The processor for `model` (loaded from `modelId`): see cli_processor.ts; a warning goes to stderr. */
function processorOf(
  o: Options,
  model: { processor: BeitImageProcessor | undefined; config: BeitConfig },
  modelId: string = o.model ?? DEFAULT_MODEL,
): Promise<BeitImageProcessor> {
  const choice = { processor: o.processor, defaultProcessor: o['default-processor'] ?? false };
  return chooseProcessor(model, modelId, choice, hubOptions(o), (line) => console.error(line));
}

async function classify(o: Options, images: string[]): Promise<void> {
  requireImages(images);
  const topK = positiveInt('top-k', o['top-k']);
  const batchSize = positiveInt('batch-size', o['batch-size']);
  const model = await BeitForImageClassification.fromPretrained(o.model ?? DEFAULT_MODEL, loadOptions(o));
  const processor = await processorOf(o, model);
  const results: { image: string; predictions: { label: string; score: number }[] }[] = [];
  for (const group of batches(images, batchSize)) {
    const predictions = await model.classify(group, { topK, processor });
    for (const [i, image] of group.entries()) results.push({ image, predictions: predictions[i] ?? [] });
  }
  if (o.json) return console.log(JSON.stringify(results, null, 2));
  for (const { image, predictions } of results) {
    console.log(image);
    for (const p of predictions) console.log(`  ${p.score.toFixed(4)}  ${p.label}`);
  }
}

/** An image's output file name without extension: its file's, or for a URL its path's last part. */
function outputStem(image: string): string {
  let path = image;
  if (/^(https?|file):/i.test(image)) {
    const { pathname } = new URL(image);
    path = decodeURIComponent(pathname);
  }
  return basename(path, extname(path)) || 'image';
}

async function segment(o: Options, images: string[]): Promise<void> {
  requireImages(images);
  if (!o.out) throw new UsageError('segment needs --out DIR for the label-map PNGs');
  const batchSize = positiveInt('batch-size', o['batch-size']);
  mkdirSync(o.out, { recursive: true });
  const model = await BeitForSemanticSegmentation.fromPretrained(o.model ?? DEFAULT_MODEL, loadOptions(o));
  const processor = await processorOf(o, model);
  const written: { image: string; labelMap: string; height: number; width: number }[] = [];
  for (const group of batches(images, batchSize)) {
    const maps = await model.segment(group, { processor });
    group.forEach((image, i) => {
      const map = maps[i] as Tensor;
      const file = join(o.out as string, `${outputStem(image)}.png`);
      native.writeLabelMapPng(map.toNative(), file);
      written.push({ image, labelMap: file, height: map.dims[0] ?? 0, width: map.dims[1] ?? 0 });
    });
  }
  if (o.json) return console.log(JSON.stringify(written, null, 2));
  for (const w of written) console.log(`${w.image} -> ${w.labelMap} (${w.height}x${w.width})`);
}

async function depth(o: Options, images: string[]): Promise<void> {
  requireImages(images);
  if (!o.out) throw new UsageError('depth needs --out DIR for the depth PNGs');
  mkdirSync(o.out, { recursive: true });
  const modelId = o.model ?? DEFAULT_DEPTH_MODEL;
  const model = await DPTForDepthEstimation.fromPretrained(modelId, loadOptions(o));
  const processor = await processorOf(o, model, modelId);
  const written: { image: string; depth: string; height: number; width: number; min: number; max: number }[] = [];
  // One image at a time: DPT's processor keeps each image's aspect ratio, so sizes differ.
  for (const image of images) {
    const [result] = await model.estimateDepth(image, { processor });
    if (!result) continue;
    const { predictedDepth, depth: picture } = result;
    const file = join(o.out, `${outputStem(image)}.png`);
    native.writeDepthPng(picture.data, picture.height, picture.width, file);
    let [min, max] = [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
    for (const v of predictedDepth.data as Float32Array) [min, max] = [Math.min(min, v), Math.max(max, v)];
    written.push({ image, depth: file, height: picture.height, width: picture.width, min, max });
  }
  if (o.json) return console.log(JSON.stringify(written, null, 2));
  for (const w of written) console.log(`${w.image} -> ${w.depth} (${w.height}x${w.width})`);
}

/** A `.npy` (version 1.0) file of float32 rows. */
function npy(data: Float32Array, shape: number[]): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header = `${header}${' '.repeat(63 - ((10 + header.length) % 64))}\n`;
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix.writeUInt8(1, 6);
  prefix.writeUInt8(0, 7);
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([
    prefix,
    Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  ]);
}

async function embed(o: Options, images: string[]): Promise<void> {
  requireImages(images);
  const batchSize = positiveInt('batch-size', o['batch-size']);
  const model = await BeitModel.fromPretrained(o.model ?? DEFAULT_MODEL, loadOptions(o));
  const processor = await processorOf(o, model);
  const rows: Float32Array[] = [];
  for (const group of batches(images, batchSize)) {
    const { pixelValues } = await processor.preprocess(group);
    const { poolerOutput } = await model.forward({ pixelValues });
    const width = poolerOutput.dims[1] ?? 0;
    for (let i = 0; i < group.length; i++)
      rows.push(poolerOutput.data.slice(i * width, (i + 1) * width) as Float32Array);
  }
  const width = rows[0]?.length ?? 0;
  if (o.npy) {
    const all = new Float32Array(rows.length * width);
    for (const [i, r] of rows.entries()) all.set(r, i * width);
    writeFileSync(o.npy, npy(all, [rows.length, width]));
    return console.log(`${rows.length} embeddings of ${width} floats -> ${o.npy}`);
  }
  console.log(JSON.stringify(images.map((image, i) => ({ image, embedding: Array.from(rows[i] ?? []) }))));
}

/** A reproducible mask: each patch masked with probability `ratio` (a small LCG, seeded). */
function randomMask(batch: number, patches: number, ratio: number, seed: number): Tensor {
  let state = seed >>> 0 || 1;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return new Tensor(
    Uint8Array.from({ length: batch * patches }, () => (next() < ratio ? 1 : 0)),
    [batch, patches],
  );
}

async function mim(o: Options, images: string[]): Promise<void> {
  requireImages(images);
  const ratio = Number(o['mask-ratio']);
  if (!(ratio > 0 && ratio <= 1)) throw new UsageError(`--mask-ratio must be in (0, 1], got ${o['mask-ratio']}`);
  const seed = Number(o.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed must be a non-negative integer, got ${o.seed}`);
  const model = await BeitForMaskedImageModeling.fromPretrained(o.model ?? DEFAULT_MODEL, loadOptions(o));
  const { pixelValues } = await (await processorOf(o, model)).preprocess(images);
  const [batch = 0, , height = 0, width = 0] = pixelValues.dims;
  const patches = Math.floor(height / model.config.patchSize) * Math.floor(width / model.config.patchSize);
  const boolMaskedPos = randomMask(batch, patches, ratio, seed);
  const { logits } = await model.forward({ pixelValues, boolMaskedPos });
  const vocab = logits.dims[2] ?? 0;
  const results = images.map((image, b) => {
    const masked: { patch: number; token: number }[] = [];
    for (let p = 0; p < patches; p++) {
      if (!boolMaskedPos.data[b * patches + p]) continue;
      const row = logits.data.subarray((b * patches + p) * vocab, (b * patches + p + 1) * vocab);
      masked.push({ patch: p, token: row.indexOf(Math.max(...row)) });
    }
    return { image, masked };
  });
  if (o.json) return console.log(JSON.stringify(results, null, 2));
  for (const { image, masked } of results) {
    console.log(`${image}: ${masked.length} of ${patches} patches masked`);
    console.log(`  predicted visual tokens: ${masked.map((m) => `${m.patch}:${m.token}`).join(' ')}`);
  }
}

async function bench(o: Options): Promise<void> {
  const batchSize = positiveInt('batch-size', o['batch-size']);
  const runs = positiveInt('runs', o.runs);
  const load = loadOptions(o);
  const model = o.random
    ? await BeitModel.fromConfig(new BeitConfig({ useRelativePositionBias: true }), load)
    : await BeitModel.fromPretrained(o.model ?? DEFAULT_MODEL, load);
  const { imageSize, numChannels } = model.config;
  const size = batchSize * numChannels * imageSize * imageSize;
  const pixelValues = new Tensor(
    Float32Array.from({ length: size }, () => Math.random() * 2 - 1),
    [batchSize, numChannels, imageSize, imageSize],
  );
  await model.forward({ pixelValues });
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await model.forward({ pixelValues });
    times.push(performance.now() - start);
  }
  const median = times.sort((a, b) => a - b)[Math.floor(runs / 2)] ?? 0;
  const result = { batchSize, runs, medianMs: median, imagesPerSecond: (batchSize * 1000) / median };
  if (o.json) return console.log(JSON.stringify(result));
  console.log(
    `batch ${batchSize}: median ${median.toFixed(0)} ms of ${runs} runs, ${result.imagesPerSecond.toFixed(2)} images/s`,
  );
}

/** Serves a BullMQ queue until SIGTERM or SIGINT, then finishes the running jobs and exits. */
async function worker(o: Options, rest: string[]): Promise<void> {
  if (rest.length > 0) throw new UsageError('worker takes no images: producers enqueue them');
  if (!o.queue) throw new UsageError('worker needs --queue NAME');
  const task = (o.task ?? 'image-classification') as PipelineTask;
  if (!Object.hasOwn(TASKS, task))
    throw new UsageError(`unknown --task ${task}: expected one of ${Object.keys(TASKS).join(', ')}`);
  // Loaded here, so that the other commands run without bullmq installed.
  const { createWorker } = await import('./worker/index.js');
  const running = await createWorker({
    queue: o.queue,
    connection: o.redis ?? 'redis://127.0.0.1:6379',
    task,
    modelId: o.model ?? (task === 'depth-estimation' ? DEFAULT_DEPTH_MODEL : DEFAULT_MODEL),
    loadOptions: loadOptions(o),
    concurrency: positiveInt('concurrency', o.concurrency),
    ...(o['files-root'] ? { filesRoot: o['files-root'] } : {}),
    ...(o['health-port'] !== undefined ? { healthPort: Number(o['health-port']), healthHost: o['health-host'] } : {}),
  });
  const log = (event: string, fields: Record<string, unknown> = {}) =>
    console.log(o.json ? JSON.stringify({ event, ...fields }) : `${event} ${JSON.stringify(fields)}`);
  running.on('metrics', (m) => log('metrics', m));
  running.on('error', (err: Error) => console.error(`beit worker: ${err.message}`));
  log('ready', { queue: o.queue, task, ...(running.healthPort ? { healthPort: running.healthPort } : {}) });
  await new Promise<void>((done) => running.once('closed', done));
  log('closed', running.health as unknown as Record<string, unknown>);
}

const COMMANDS: Record<string, (o: Options, images: string[]) => Promise<void>> = {
  classify,
  segment,
  depth,
  embed,
  mim,
  bench,
  worker,
};

/** `--task`: the command for each of `pipeline()`'s tasks (the images then follow directly). */
const TASKS: Record<string, string> = {
  'image-classification': 'classify',
  'image-segmentation': 'segment',
  'depth-estimation': 'depth',
  'image-feature-extraction': 'embed',
};

/** The command and its images: `--task T images...` or `command images...` (`worker --task T` is the worker's task). */
function commandOf(task: string | undefined, positionals: string[]): [string | undefined, string[]] {
  const [first] = positionals;
  if (task === undefined || (first !== undefined && Object.hasOwn(COMMANDS, first))) {
    return [first, positionals.slice(1)];
  }
  const command = Object.hasOwn(TASKS, task) ? TASKS[task] : undefined;
  if (!command) throw new UsageError(`unknown --task ${task}: expected one of ${Object.keys(TASKS).join(', ')}`);
  return [command, positionals];
}

/** Runs the CLI on `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parse(argv);
    const [command, images] = commandOf(values.task, positionals);
    if (values.help || !command) {
      console.log(USAGE);
      return values.help ? 0 : 2;
    }
    const run = COMMANDS[command];
    if (!run) throw new UsageError(`unknown command ${command}`);
    if (values.processor !== undefined && values['default-processor']) {
      throw new UsageError('--processor and --default-processor exclude each other: give one');
    }
    await run(values, images);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`beit: ${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
    const e = BeitError.fromNative(err);
    console.error(`beit: ${e.message} [${e.code}]`);
    return 1;
  }
}
