// A child process's whole output and how it ended, without blocking this process (which may be serving
// the child a local server).
import type { ChildProcess } from 'node:child_process';

export interface ChildOutput {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** Resolves once `child` has closed, with all it wrote; rejects if it could not start. */
export function childOutput(child: ChildProcess): Promise<ChildOutput> {
  let [out, err] = ['', ''];
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}
