// The CLI's download progress: redrawn in place on a terminal, one line per file elsewhere.
import { describe, expect, it } from 'vitest';
import { progressBar } from '../ts/progress_bar.js';

function stream(isTTY: boolean) {
  const written: string[] = [];
  const fake = { isTTY, write: (s: string) => written.push(s) > 0 } as unknown as NodeJS.WriteStream;
  return { fake, written };
}

describe('progressBar', () => {
  const events = [
    { file: 'model.safetensors', downloaded: 0, total: 4e6 },
    { file: 'model.safetensors', downloaded: 1e6, total: 4e6 },
    { file: 'model.safetensors', downloaded: 4e6, total: 4e6 },
  ];

  it('redraws one line on a terminal and ends it when the file is complete', () => {
    const { fake, written } = stream(true);
    const report = progressBar(fake);
    for (const e of events) report(e);
    expect(written[1]).toBe(
      `\r\x1b[2KDownloading model.safetensors  [${'#'.repeat(8)}${'-'.repeat(22)}]  25%  1.0 MB / 4.0 MB`,
    );
    expect(written[2]).toMatch(/\[#{30}\] 100% {2}4\.0 MB \/ 4\.0 MB\n$/);
  });

  it('writes a start and an end line per file elsewhere', () => {
    const { fake, written } = stream(false);
    const report = progressBar(fake);
    for (const e of events) report(e);
    expect(written).toEqual(['Downloading model.safetensors (4.0 MB)\n', 'Downloaded model.safetensors\n']);
  });
});
