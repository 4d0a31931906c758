/**
 * The CLI's download progress on stderr: a bar redrawn in place on a terminal, and one line per
 * file at its start and end elsewhere (logs, pipes), so stdout stays the command's result.
 * @module
 */
import type { DownloadProgress } from './hub.js';

const WIDTH = 30;

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function bar({ file, downloaded, total }: DownloadProgress): string {
  const share = total > 0 ? Math.min(downloaded / total, 1) : 1;
  const filled = Math.round(share * WIDTH);
  const percent = `${Math.floor(share * 100)}%`.padStart(4);
  return `${file}  [${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${percent}  ${megabytes(downloaded)} / ${megabytes(total)}`;
}

/** An `onProgress` callback drawing on `stream`. */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): (p: DownloadProgress) => void {
  const started = new Set<string>();
  return (p) => {
    const done = p.downloaded >= p.total;
    if (stream.isTTY) {
      stream.write(`\r\x1b[2KDownloading ${bar(p)}${done ? '\n' : ''}`);
      return;
    }
    if (!started.has(p.file)) {
      started.add(p.file);
      stream.write(`Downloading ${p.file} (${megabytes(p.total)})\n`);
    }
    if (done) stream.write(`Downloaded ${p.file}\n`);
  };
}
