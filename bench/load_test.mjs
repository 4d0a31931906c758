// Load test of examples/server on 127.0.0.1: the server runs in its own process; autocannon POSTs one
// image for DURATION seconds at 1, 8 and 64 concurrent connections and reports requests/s and the
// p50 / p99 latency. MODEL picks the checkpoint (default: the bundled digits model).
//   npm run build && (cd bench && npm install --ignore-scripts) && node bench/load_test.mjs
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const root = fileURLToPath(new URL('..', import.meta.url));
const duration = Number(process.env.DURATION ?? 10);
const image = readFileSync(process.env.IMAGE ?? join(root, 'samples/digits/digit-7.png'));
const server = spawn(process.execPath, [join(root, 'examples/server/server.mjs')], {
  env: { ...process.env, PORT: '0' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const [banner] = await once(server.stdout, 'data');
const url = /http:\S+/.exec(String(banner))?.[0];

console.log(
  `model: ${process.env.MODEL ?? 'bundled beit-digits'}, ${duration} s per level, ${image.length} byte image`,
);
console.log('connections | requests/s | p50 latency | p99 latency | errors');
for (const connections of [1, 8, 64]) {
  const result = await autocannon({
    url,
    method: 'POST',
    body: image,
    connections,
    duration,
  });
  const { requests, latency, errors, non2xx } = result;
  console.log(
    `${connections} | ${requests.average.toFixed(1)} | ${latency.p50} ms | ${latency.p99} ms | ${errors + non2xx}`,
  );
}
server.kill('SIGTERM');
