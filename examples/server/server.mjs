// A small image-classification service: POST the bytes of an image (JPEG, PNG, WebP, ...) to
// /classify and get the top 5 labels as JSON. Concurrent requests share forward passes through the
// model's batching queue. Each request fails alone: MAX_IN_FLIGHT requests at once or a full queue
// answer 503, a bad image (or one over MAX_IMAGE_PIXELS) 400, an upload over MAX_BODY_BYTES 413
// (without being read), a slow or silent client is cut off (408 or a closed connection), and a
// client that hangs up withdraws its request from the queue. Clients get a code and a request id;
// details and stacks go to stderr under that id. The limits and their environment variables:
// limits.mjs.
//   node examples/server/server.mjs                 # the bundled digits model, port 3000
//   MODEL=microsoft/beit-base-patch16-224 PORT=8080 MAX_BODY_BYTES=5000000 node examples/server/server.mjs
//   curl --data-binary @samples/digits/digit-7.png http://127.0.0.1:3000/classify
import { createServer } from 'node:http';
import { BeitForImageClassification, BeitImageProcessor, bundledModelDir } from 'beit-node';
import {
  CLASSIFY_TIMEOUT_MS,
  HEADERS_TIMEOUT_MS,
  IDLE_TIMEOUT_MS,
  MAX_BATCH,
  MAX_BODY_BYTES,
  MAX_IMAGE_PIXELS,
  MAX_IN_FLIGHT,
  MAX_QUEUE,
  REQUEST_TIMEOUT_MS,
} from './limits.mjs';
import { readBody } from './read_body.mjs';
import { reply, replyError } from './replies.mjs';

const port = Number(process.env.PORT ?? 3000);
const modelName = process.env.MODEL ?? bundledModelDir();
const model = await BeitForImageClassification.fromPretrained(modelName, {
  batching: { maxBatchSize: MAX_BATCH, maxWaitMs: 2, maxQueue: MAX_QUEUE },
});
// The checkpoint's processor again (from the cache), with the server's pixel limit.
const processor = await BeitImageProcessor.fromPretrained(modelName, { maxPixels: MAX_IMAGE_PIXELS });

let requests = 0;
let inFlight = 0;

/** The answer to a request beyond MAX_IN_FLIGHT: 503 before reading it. */
class Busy extends Error {
  code = 'E_OVERLOADED';
  constructor() {
    super(`${MAX_IN_FLIGHT} requests in flight (MAX_IN_FLIGHT)`);
  }
}

async function classify(req, res, id) {
  if (inFlight >= MAX_IN_FLIGHT) {
    res.setHeader('connection', 'close');
    throw new Busy();
  }
  inFlight++;
  try {
    await classifyUpload(req, res, id);
  } finally {
    inFlight--;
  }
}

async function classifyUpload(req, res, id) {
  req.socket.setTimeout(IDLE_TIMEOUT_MS);
  const body = await readBody(req, MAX_BODY_BYTES);
  // The model's time is bounded by CLASSIFY_TIMEOUT_MS; a silent socket now is the client waiting.
  req.socket.setTimeout(0);
  const hangUp = new AbortController();
  res.on('close', () => hangUp.abort());
  const signal = AbortSignal.any([hangUp.signal, AbortSignal.timeout(CLASSIFY_TIMEOUT_MS)]);
  try {
    const [labels] = await model.classify(body, { topK: 5, processor, signal });
    reply(res, 200, labels);
  } catch (err) {
    if (hangUp.signal.aborted) return void console.error(`${id}: the client hung up before its answer`);
    throw err;
  }
}

/** One request, start to end; whatever it throws is answered (or logged) here, and costs no other. */
async function handle(req, res) {
  const id = `r${++requests}`;
  try {
    if (req.method === 'POST' && req.url === '/classify') return await classify(req, res, id);
    reply(res, 404, { error: 'POST an image to /classify' });
  } catch (err) {
    if (req.destroyed && !req.complete) return void console.error(`${id}: the upload broke off (hang-up or timeout)`);
    replyError(res, id, err);
  }
}

const server = createServer(
  {
    headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout: Math.max(REQUEST_TIMEOUT_MS, HEADERS_TIMEOUT_MS),
    keepAliveTimeout: IDLE_TIMEOUT_MS,
    // Node checks the two timeouts above on this period (30 s by default, longer than short limits).
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, HEADERS_TIMEOUT_MS / 4, REQUEST_TIMEOUT_MS / 4)),
  },
  (req, res) => void handle(req, res),
);
server.timeout = IDLE_TIMEOUT_MS;
// "Expect: 100-continue": a declared size over the limit, or a busy server, refuses before the
// client sends the body.
server.on('checkContinue', (req, res) => {
  if (!(Number(req.headers['content-length']) > MAX_BODY_BYTES) && inFlight < MAX_IN_FLIGHT) res.writeContinue();
  void handle(req, res);
});
server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}/classify`));
process.on('SIGTERM', () => server.close(() => model.dispose()));
