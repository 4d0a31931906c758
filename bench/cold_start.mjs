// One contender in a fresh process: seconds from `import` to the first top-5 result for one photo
// (page cache warm: compare.mjs runs a warm-up round first), then the peak RSS after a
// batch-8 forward pass on random pixels (Linux). Prints one JSON line.
//   node bench/cold_start.mjs beit-node|transformers.js MODEL_DIR PHOTO [fp32|q8|bf16]
const [contender, modelDir, photo, dtype = 'fp32'] = process.argv.slice(2);
const start = performance.now();
let firstResult;
let batch8;

if (contender === 'beit-node') {
  const { BeitForImageClassification, Tensor } = await import('../dist/index.js');
  const dtypes = { fp32: 'float32', q8: 'q8', bf16: 'bfloat16' };
  const model = await BeitForImageClassification.fromPretrained(modelDir, { dtype: dtypes[dtype] });
  firstResult = await model.classify(photo, { topK: 5 });
  const pixels = new Tensor(new Float32Array(8 * 3 * 224 * 224), [8, 3, 224, 224]);
  batch8 = () => model.forward({ pixelValues: pixels });
} else {
  const { env, pipeline, Tensor } = await import('@huggingface/transformers');
  const { basename, dirname } = await import('node:path');
  env.allowRemoteModels = false;
  env.localModelPath = dirname(modelDir);
  const classifier = await pipeline('image-classification', basename(modelDir), { dtype });
  firstResult = await classifier(photo, { top_k: 5 });
  const pixels = new Tensor('float32', new Float32Array(8 * 3 * 224 * 224), [8, 3, 224, 224]);
  batch8 = () => classifier.model({ pixel_values: pixels });
}
const seconds = (performance.now() - start) / 1000;
await batch8();
// VmHWM, not getrusage's maxRSS: that one carries the parent's peak across fork and exec.
const { readFileSync } = await import('node:fs');
const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? Number.NaN);
console.log(JSON.stringify({ seconds, top: firstResult.flat()[0]?.label, peakRssMiB: hwm / 1024 }));
