/**
 * What travels through the queue: a job's image and options as JSON (bytes and pixels in base64), and
 * its result in a compact form (tensors as base64 of their bytes) that the producer turns back into
 * what `pipeline(task)` gives for one image.
 * @module
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { BeitError } from '../errors.js';
import { type ImageInput, type ResolveOptions, resolveImages } from '../image_input.js';
import type { ClassificationResult, DepthEstimationResult, PipelineTask } from '../pipeline.js';
import { type SegmentationResult, segments } from '../segments.js';
import { Tensor, type TensorDataType } from '../tensor.js';

/** An image as a job carries it. */
export type JobImage =
  | { bytes: string }
  | { path: string }
  | { raw: { data: string; width: number; height: number; channels: 1 | 3 | 4 } };

/** What a producer may ask of one image, per task. */
export interface JobOptions {
  /** image-classification: how many classes (default 5). */
  topK?: number;
  /** image-feature-extraction: the pooled output instead of every token. */
  pool?: boolean;
}

/** A job's data. */
export interface JobData {
  task: PipelineTask;
  image: JobImage;
  options?: JobOptions;
}

/**
 * An image for a job: any {@link ImageInput}. The producer downloads URLs and reads `Blob`s,
 * `Response`s and sharp images itself, and sends their bytes or pixels; a file (a path or a `file:` URL)
 * travels as its path, for a worker that can read it (see `filesRoot`).
 */
export type QueueImage = ImageInput;

const base64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/**
 * A producer's image as job data.
 * @throws BeitError as `resolveImages` does (a download that fails, a kind that is not taken).
 */
export async function encodeImage(image: QueueImage, options: ResolveOptions = {}): Promise<JobImage> {
  const [resolved] = await resolveImages([image], options);
  if (!resolved) throw new BeitError('E_INTERNAL', 'an image resolved to nothing');
  if ('path' in resolved) return { path: resolve(resolved.path) };
  if ('bytes' in resolved) return { bytes: base64(resolved.bytes) };
  const { data, width, height, channels } = resolved;
  return { raw: { data: base64(data), width, height, channels } };
}

/**
 * A job's image as the pipeline takes it. A file must lie under `filesRoot` (a real path, see
 * `realFilesRoot`; the file's links resolved): without one, jobs may not name files at all, so that a
 * producer cannot make the worker read others.
 */
export async function decodeImage(image: JobImage, filesRoot: string | undefined): Promise<ImageInput> {
  if ('bytes' in image && typeof image.bytes === 'string') return Buffer.from(image.bytes, 'base64');
  if ('raw' in image && image.raw && typeof image.raw.data === 'string') {
    const { data, width, height, channels } = image.raw;
    return { data: Buffer.from(data, 'base64'), width, height, channels };
  }
  if ('path' in image && typeof image.path === 'string') return fileUnder(image.path, filesRoot);
  throw new BeitError('E_INVALID_ARGUMENT', 'a job image must be { bytes }, { path } or { raw }');
}

async function fileUnder(path: string, filesRoot: string | undefined): Promise<string> {
  if (!filesRoot) {
    throw new BeitError(
      'E_INVALID_ARGUMENT',
      'this worker takes no file paths (start it with filesRoot, --files-root, to allow files under a directory)',
    );
  }
  const file = await realpath(path).catch(() => {
    throw new BeitError('E_IO', `the job's image file ${path} does not exist`);
  });
  const rel = relative(filesRoot, file);
  if (rel.startsWith('..') || isAbsolute(rel)) {
    throw new BeitError('E_INVALID_ARGUMENT', `the job's image file ${path} is outside the worker's filesRoot`);
  }
  return file;
}

/** A worker's `filesRoot`, links resolved once at its start. */
export async function realFilesRoot(filesRoot: string): Promise<string> {
  return realpath(filesRoot).catch(() => {
    throw new BeitError('E_INVALID_ARGUMENT', `filesRoot ${filesRoot} is not a directory that exists`);
  });
}

/** A tensor in a result: its dims, dtype and bytes in base64. */
interface EncodedTensor {
  dims: number[];
  dtype: TensorDataType;
  data: string;
}

/** A job's result as it is stored. */
export type EncodedResult =
  | { task: 'image-classification'; labels: ClassificationResult[] }
  | { task: 'image-feature-extraction'; features: EncodedTensor }
  | { task: 'image-segmentation'; labelMap: EncodedTensor; id2label: Record<string, string> }
  | { task: 'depth-estimation'; predictedDepth: EncodedTensor; depth: EncodedTensor };

/** What a job gives back: what `pipeline(task)` gives for one image. */
export type JobResult = ClassificationResult[] | Tensor | SegmentationResult[] | DepthEstimationResult;

function encodeTensor(t: Tensor): EncodedTensor {
  return {
    dims: [...t.dims],
    dtype: t.dtype,
    data: base64(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)),
  };
}

function decodeTensor({ dims, dtype, data }: EncodedTensor): Tensor {
  const bytes = Buffer.from(data, 'base64');
  // A copy, so that the typed array is aligned whatever the Buffer's offset.
  const copy = new Uint8Array(bytes).buffer;
  const typed = { float32: Float32Array, int32: Int32Array, uint8: Uint8Array }[dtype];
  return new Tensor(new typed(copy), dims);
}

/** What a worker computed for one image (segmentation as its label map, the compact form). */
export type TaskOutput =
  | { task: 'image-classification'; labels: ClassificationResult[] }
  | { task: 'image-feature-extraction'; features: Tensor }
  | { task: 'image-segmentation'; labelMap: Tensor; id2label: Record<string, string> }
  | { task: 'depth-estimation'; result: DepthEstimationResult };

/** A worker's output for one image as it is stored. */
export function encodeResult(out: TaskOutput): EncodedResult {
  switch (out.task) {
    case 'image-classification':
      return out;
    case 'image-feature-extraction':
      return { task: out.task, features: encodeTensor(out.features) };
    case 'image-segmentation': {
      // Only the labels of the classes present: a 150-class head labels few in one image.
      const present = new Set(out.labelMap.data as Int32Array);
      const id2label = Object.fromEntries(
        [...present].map((id) => [String(id), out.id2label[String(id)] ?? `LABEL_${id}`]),
      );
      return { task: out.task, labelMap: encodeTensor(out.labelMap), id2label };
    }
    case 'depth-estimation': {
      const { predicted_depth, depth } = out.result;
      const picture = new Tensor(depth.data, [depth.height, depth.width]);
      return { task: out.task, predictedDepth: encodeTensor(predicted_depth), depth: encodeTensor(picture) };
    }
  }
}

/** A stored result as `pipeline(task)` gives it for one image. */
export function decodeResult(result: EncodedResult): JobResult {
  switch (result.task) {
    case 'image-classification':
      return result.labels;
    case 'image-feature-extraction':
      return decodeTensor(result.features);
    case 'image-segmentation':
      return segments(decodeTensor(result.labelMap), result.id2label);
    case 'depth-estimation': {
      const picture = decodeTensor(result.depth);
      const [height = 0, width = 0] = picture.dims;
      return {
        predicted_depth: decodeTensor(result.predictedDepth),
        depth: { data: picture.data as Uint8Array, width, height, channels: 1 },
      };
    }
  }
}
