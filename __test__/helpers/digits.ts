// The bundled digits model's reference (PyTorch's logits for the shipped samples), shared by the
// specs that classify the samples in this tree and from an installed package.
import { readFileSync } from 'node:fs';

/** One shipped sample: its file (relative to the package root), true label, PyTorch's logits and label. */
export interface DigitSample {
  file: string;
  label: string;
  logits: number[];
  predicted: string;
}

/** The samples of `__test__/fixtures/digits-reference.json`. */
export const digitsReference = JSON.parse(
  readFileSync(new URL('../fixtures/digits-reference.json', import.meta.url), 'utf8'),
) as { samples: DigitSample[] };

/** The probabilities of `logits`, as the classifier's scores are. */
export function softmax(logits: number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}
