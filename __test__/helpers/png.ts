// Reads the pixels of an 8-bit greyscale, non-interlaced PNG (what the CLI writes for depth), so that
// tests can compare a written picture with the reference without an image library.
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';

/** PNG's Paeth predictor. */
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

export function readGrayPng(path: string): { width: number; height: number; data: Uint8Array } {
  const file = readFileSync(path);
  const idat: Buffer[] = [];
  let [width, height] = [0, 0];
  for (let at = 8; at < file.length; ) {
    const length = file.readUInt32BE(at);
    const type = file.toString('latin1', at + 4, at + 8);
    const body = file.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      [width, height] = [body.readUInt32BE(0), body.readUInt32BE(4)];
      if (body[8] !== 8 || body[9] !== 0) throw new Error(`${path}: not an 8-bit greyscale PNG`);
    }
    if (type === 'IDAT') idat.push(body);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (width + 1)];
    for (let x = 0; x < width; x++) {
      const v = raw[y * (width + 1) + 1 + x] ?? 0;
      const a = x > 0 ? (data[y * width + x - 1] ?? 0) : 0;
      const b = y > 0 ? (data[(y - 1) * width + x] ?? 0) : 0;
      const c = x > 0 && y > 0 ? (data[(y - 1) * width + x - 1] ?? 0) : 0;
      const predicted = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter ?? 0] ?? 0;
      data[y * width + x] = (v + predicted) & 0xff;
    }
  }
  return { width, height, data };
}
