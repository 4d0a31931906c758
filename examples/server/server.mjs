// A small image-classification service: POST the bytes of an image (JPEG, PNG, WebP, ...) to
// /classify and get the top 5 labels as JSON. Concurrent requests share forward passes through the
// model's batching queue; a full queue answers 503, a bad image 400, and a client that hangs up
// withdraws its request from the queue.
//   node examples/server/server.mjs                 # the bundled digits model, port 3000
//   MODEL=microsoft/beit-base-patch16-224 PORT=8080 node examples/server/server.mjs
//   curl --data-binary @samples/digits/digit-7.png http://127.0.0.1:3000/classify
import { createServer } from 'node:http';
import { BeitError, BeitForImageClassification, bundledModelDir } from 'beit-node';

const port = Number(process.env.PORT ?? 3000);
const model = await BeitForImageClassification.fromPretrained(process.env.MODEL ?? bundledModelDir(), {
  batching: { maxBatchSize: Number(process.env.MAX_BATCH ?? 8), maxWaitMs: 2, maxQueue: 512 },
});

/** HTTP status for a failed classification. */
function status(err) {
  if (!(err instanceof BeitError)) return 500;
  if (err.code === 'E_OVERLOADED') return 503;
  if (err.code === 'E_IMAGE') return 400;
  return 500;
}

function reply(res, code, body) {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function classify(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const hangUp = new AbortController();
  res.on('close', () => hangUp.abort());
  try {
    const [labels] = await model.classify(Buffer.concat(chunks), { topK: 5, signal: hangUp.signal });
    reply(res, 200, labels);
  } catch (err) {
    if (hangUp.signal.aborted) return;
    reply(res, status(err), { error: err.message, code: err.code });
  }
}

const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/classify') return void classify(req, res);
  reply(res, 404, { error: 'POST an image to /classify' });
});
server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}/classify`));
process.on('SIGTERM', () => server.close(() => model.dispose()));
