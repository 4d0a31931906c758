// Enqueues image files for the workers and prints each one's labels:
//   REDIS_URL=redis://127.0.0.1:6379 node examples/worker/producer.mjs cat.jpg dog.png ...
// The images travel in the jobs, so workers need no access to these files.
import { readFile } from 'node:fs/promises';
import { createProducer } from 'beit-node/worker';

const producer = await createProducer({
  queue: process.env.QUEUE ?? 'classify',
  connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  task: 'image-classification',
});
const files = process.argv.slice(2);
const results = await Promise.allSettled(files.map(async (file) => producer.enqueue(await readFile(file), { topK: 3 })));
for (const [i, r] of results.entries()) {
  if (r.status === 'fulfilled') console.log(files[i], r.value.map((c) => `${c.label} ${c.score.toFixed(3)}`).join(', '));
  else console.log(files[i], `failed: [${r.reason.code}] ${r.reason.message}`);
}
await producer.close();
