// A worker process for the worker tests: the bundled digits classifier serving a queue, each job held
// `delayMs` longer (to be caught mid-run), reporting its events as JSON lines on stdout.
//   node __test__/helpers/worker_process.mjs REDIS_URL QUEUE DELAY_MS
import { BeitForImageClassification, bundledModelDir } from '../../dist/index.js';
import { createWorker } from '../../dist/worker/index.js';

const [url, queue, delay = '0'] = process.argv.slice(2);
const model = await BeitForImageClassification.fromPretrained(bundledModelDir('beit-digits'));
const classify = model.classify.bind(model);
model.classify = async (...args) => {
  await new Promise((done) => setTimeout(done, Number(delay)));
  return classify(...args);
};
const say = (event, id) => process.stdout.write(`${JSON.stringify({ event, id, pid: process.pid })}\n`);
const worker = await createWorker({
  queue,
  connection: url,
  task: 'image-classification',
  model,
  concurrency: 4,
  lockDurationMs: 1000,
  stalledIntervalMs: 500,
  metricsIntervalMs: 0,
});
worker.on('active', (id) => say('active', id));
worker.on('completed', (id) => say('completed', id));
worker.on('closed', () => say('closed'));
say('ready');
