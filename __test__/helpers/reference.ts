// The reference cases (computed with HF transformers) and a closeness check in their terms.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { Tensor } from '../../ts/index.js';
import { readSafetensors, type StoredTensor } from './safetensors.js';

export const referenceDir = fileURLToPath(new URL('../../crates/beit/tests/fixtures/reference', import.meta.url));

export interface ReferenceCase {
  name: string;
  dir: string;
  className: string;
  forward: { interpolate_pos_encoding?: boolean; bool_masked_pos?: boolean };
  tolerance: { atol: number; rtol: number };
  inputs: Map<string, StoredTensor>;
  expected: Map<string, StoredTensor>;
}

export function loadCase(name: string): ReferenceCase {
  const dir = join(referenceDir, name);
  const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
  return {
    name,
    dir,
    className: meta.class,
    forward: meta.forward,
    tolerance: meta.tolerance,
    inputs: readSafetensors(join(dir, 'inputs.safetensors')),
    expected: readSafetensors(join(dir, 'expected.safetensors')),
  };
}

export function toTensor(stored: StoredTensor): Tensor {
  return new Tensor(stored.data, stored.dims);
}

/** Flattens a model output into the reference's names: `logits`, `hidden_states.2`, ... */
export function namedOutputs(out: Record<string, unknown>): Map<string, Tensor> {
  const snake: Record<string, string> = {
    loss: 'loss',
    logits: 'logits',
    lastHiddenState: 'last_hidden_state',
    poolerOutput: 'pooler_output',
    hiddenStates: 'hidden_states',
    attentions: 'attentions',
    featureMaps: 'feature_maps',
    predictedDepth: 'predicted_depth',
  };
  const named = new Map<string, Tensor>();
  for (const [key, value] of Object.entries(out)) {
    const name = snake[key] ?? key;
    if (!Array.isArray(value)) {
      named.set(name, value as Tensor);
      continue;
    }
    for (const [i, t] of value.entries()) named.set(`${name}.${i}`, t as Tensor);
  }
  return named;
}

/** Asserts |got - want| <= atol + rtol * |want| everywhere, reporting the worst element. */
export function expectClose(name: string, got: Tensor, want: StoredTensor, atol: number, rtol: number): void {
  // The reference stores the 0-dim loss as [1]; every other output must match in shape.
  if (name !== 'loss') expect(got.dims, `${name} dims`).toEqual(want.dims);
  expect(got.size, `${name} size`).toBe(want.data.length);
  let worst = { index: -1, excess: 0 };
  for (let i = 0; i < got.size; i++) {
    const g = got.data[i] as number;
    const w = want.data[i] as number;
    const excess = Math.abs(g - w) - (atol + rtol * Math.abs(w));
    if (excess > worst.excess || Number.isNaN(g) !== Number.isNaN(w))
      worst = { index: i, excess: Math.max(excess, 1e-30) };
  }
  expect(
    worst.index,
    worst.index < 0 ? name : `${name}[${worst.index}] = ${got.data[worst.index]}, reference ${want.data[worst.index]}`,
  ).toBe(-1);
}
