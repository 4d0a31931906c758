// Temporary checkpoint directories built from a reference case, for the error tests.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceDir } from './reference.js';

export const sampleCase = join(referenceDir, 'cls_relpos_meanpool');

/** A fresh directory holding the sample case's config.json, edited by `edit` if given. */
export function checkpointDir(edit?: (config: Record<string, unknown>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'beit-node-test-'));
  const config = JSON.parse(readFileSync(join(sampleCase, 'config.json'), 'utf8'));
  edit?.(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

/** A checkpoint whose model.safetensors is the sample's, passed through `mangle`. */
export function checkpointWithWeights(mangle: (bytes: Buffer) => Buffer): string {
  const dir = checkpointDir();
  copyFileSync(join(sampleCase, 'model.safetensors'), join(dir, 'model.safetensors'));
  writeFileSync(join(dir, 'model.safetensors'), mangle(readFileSync(join(dir, 'model.safetensors'))));
  return dir;
}
