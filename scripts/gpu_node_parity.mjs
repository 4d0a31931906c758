// Every reference case through the JS API on a GPU, in float32, float16 and bfloat16, against the CPU in
// float32 (a part of scripts/gpu_node_check.mjs): the Rust step `parity` of gpu_check, from Node. An
// output passes within its dtype's tolerance (atol = rtol: 1e-4, 5e-3, 1e-2, as gpu_check's), or no
// further from the CPU than twice what the same rounding costs transformers (reduced_precision.json).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// The model classes by the names case.json gives (BeitForImageClassification, DPTForDepthEstimation, ...).
const beit = await import('../dist/index.js');

const REFERENCE = 'crates/beit/tests/fixtures/reference';
const TOLERANCE = { float32: 1e-4, float16: 5e-3, bfloat16: 1e-2 };
const REFERENCE_FACTOR = 2;

/** The reference data's tensors: F32, I64 (as int32) and U8/BOOL, little-endian after a JSON header. */
function readSafetensors(path) {
  const file = readFileSync(path);
  const length = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + length).toString('utf8'));
  const tensors = new Map();
  for (const [
    name,
    {
      dtype,
      shape,
      data_offsets: [start, end],
    },
  ] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const bytes = Uint8Array.from(file.subarray(8 + length + start, 8 + length + end));
    const data =
      dtype === 'F32'
        ? new Float32Array(bytes.buffer)
        : dtype === 'I64'
          ? Int32Array.from(new BigInt64Array(bytes.buffer), Number)
          : bytes;
    tensors.set(name, new beit.Tensor(data, shape));
  }
  return tensors;
}

/** A model output as the reference names it: `logits`, `hidden_states.2`, ... */
function named(output) {
  const snake = (key) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const out = new Map();
  for (const [key, value] of Object.entries(output)) {
    if (!Array.isArray(value)) out.set(snake(key), value);
    else for (const [i, t] of value.entries()) out.set(`${snake(key)}.${i}`, t);
  }
  return out;
}

/** The largest |got - want|, and whether every element is within tol + tol * |want|. */
function compare(got, want, tol) {
  if (got.data.length !== want.data.length) return { maxAbs: Number.POSITIVE_INFINITY, within: false };
  let maxAbs = 0;
  let within = true;
  for (let i = 0; i < want.data.length; i++) {
    const diff = Math.abs(Number(got.data[i]) - Number(want.data[i]));
    maxAbs = Math.max(maxAbs, Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff);
    within &&= diff <= tol + tol * Math.abs(Number(want.data[i]));
  }
  return { maxAbs, within };
}

async function forward(caseDir, meta, inputs, options) {
  const model = await beit[meta.class].fromPretrained(caseDir, options);
  try {
    const out = await model.forward({
      pixelValues: inputs.get('pixel_values'),
      boolMaskedPos: inputs.get('bool_masked_pos'),
      labels: inputs.get('labels'),
      interpolatePosEncoding: meta.forward.interpolate_pos_encoding ?? false,
      outputHiddenStates: true,
      outputAttentions: true,
    });
    return named(out);
  } finally {
    await model.dispose();
  }
}

/** Runs every case; `report(check, pass, fields)` gets one line per case and dtype. */
export async function referenceParity(device, report) {
  const torch = JSON.parse(readFileSync(join(REFERENCE, 'reduced_precision.json'), 'utf8'));
  const cases = readdirSync(REFERENCE, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== 'pipelines' && e.name !== 'processor')
    .map((e) => e.name)
    .sort();
  for (const name of cases) {
    const dir = join(REFERENCE, name);
    const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
    const inputs = readSafetensors(join(dir, 'inputs.safetensors'));
    const cpu = await forward(dir, meta, inputs, { device: 'cpu' });
    for (const [dtype, tol] of Object.entries(TOLERANCE)) {
      const started = performance.now();
      try {
        const got = await forward(dir, meta, inputs, { device, dtype });
        const failing = [];
        let worst = 0;
        for (const [output, want] of cpu) {
          const g = got.get(output);
          const { maxAbs, within } = g ? compare(g, want, tol) : { maxAbs: Number.POSITIVE_INFINITY, within: false };
          worst = Math.max(worst, maxAbs);
          const transformers = torch[name]?.[dtype]?.[output];
          if (!within && !(transformers !== undefined && maxAbs <= REFERENCE_FACTOR * transformers)) {
            failing.push({ output, maxAbs, transformers });
          }
        }
        const ms = Math.round(performance.now() - started);
        report(`parity ${name} ${dtype}`, failing.length === 0, { outputs: cpu.size, maxAbs: worst, tol, failing, ms });
      } catch (err) {
        report(`parity ${name} ${dtype}`, false, { error: String(err?.stack ?? err) });
      }
    }
  }
}
