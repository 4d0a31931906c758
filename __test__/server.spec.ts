// examples/server answers as documented, and no client can take it down or hold it: top-5 JSON for
// an image, 400 for bytes that are none (no server detail in the answer), 413 for an upload over
// the limit before it is read, a slow client cut off, a client that hangs up costing no one else.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const digit = (d: string) => readFileSync(join(root, `samples/digits/digit-${d}.png`));
const MAX_BODY_BYTES = 1 << 20;
/** The digits are 32x32; the 451x300 photo below is over this. */
const MAX_IMAGE_PIXELS = 100_000;
/** Generous: the limits below are 1-1.5 s, and a server without them would hold on for minutes. */
const HANG_GUARD_MS = 20_000;

/** Resolves once `done()` holds, checking every 10 ms. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** examples/server in a child process, with `env` on top of the test's limits; its stderr in `log`. */
async function startServer(env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [join(root, 'examples/server/server.mjs')], {
    env: {
      ...process.env,
      PORT: '0',
      MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      MAX_IMAGE_PIXELS: String(MAX_IMAGE_PIXELS),
      HEADERS_TIMEOUT_MS: '1000',
      REQUEST_TIMEOUT_MS: '1500',
      IDLE_TIMEOUT_MS: '1000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started = { child, url: '', log: '' };
  child.stderr?.on('data', (d) => {
    started.log += d;
  });
  const [banner] = await once(child.stdout ?? child, 'data');
  started.url = /http:\S+/.exec(String(banner))?.[0] ?? '';
  return started;
}

/** Opens an upload and sends its head; resolves once the server's handler runs (its 100 Continue). */
async function openUpload(url: string): Promise<Socket> {
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write('POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\nExpect: 100-continue\r\n\r\n');
  expect(String((await once(socket, 'data'))[0])).toMatch(/^HTTP\/1\.1 100/);
  return socket;
}

describe('examples/server', () => {
  let server: ChildProcess;
  let url = '';
  let started: Awaited<ReturnType<typeof startServer>>;
  const log = () => started.log;
  beforeAll(async () => {
    started = await startServer();
    server = started.child;
    url = started.url;
  });
  afterAll(() => {
    server.kill('SIGTERM');
  });

  /** A raw connection: sends `head`, then whatever `drive` writes; resolves with all it got back once closed. */
  async function rawExchange(head: string, drive?: (write: (s: string) => boolean) => void): Promise<string> {
    const { port } = new URL(url);
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => {
      answer += d;
    });
    // A server that cuts a client off may reset the connection while the client still writes:
    // that ends the exchange like a close (`once(socket, 'close')` would reject on the reset).
    socket.on('error', () => {});
    const closed = new Promise((resolve) => socket.on('close', resolve));
    await once(socket, 'connect');
    socket.write(head);
    drive?.((s) => socket.write(s));
    await closed;
    return answer;
  }

  it('classifies concurrent uploads with the bundled model', async () => {
    const digits = ['3', '7', '9'];
    const answers = await Promise.all(digits.map((d) => fetch(url, { method: 'POST', body: digit(d) })));
    for (const [i, answer] of answers.entries()) {
      expect(answer.status).toBe(200);
      const labels = (await answer.json()) as { label: string; score: number }[];
      expect(labels).toHaveLength(5);
      expect(labels[0]?.label).toBe(digits[i]);
    }
  });

  it('answers 400 with a code and a request id for bytes that are not an image, the details only in its log', async () => {
    for (const body of ['not an image', digit('7').subarray(0, 200)]) {
      const answer = await fetch(url, { method: 'POST', body });
      expect(answer.status).toBe(400);
      const text = await answer.text();
      const json = JSON.parse(text) as { code: string; requestId: string; error: string };
      expect(json).toMatchObject({ code: 'E_IMAGE', requestId: expect.stringMatching(/^r\d+$/) });
      expect(text).not.toContain(root);
      expect(text).not.toMatch(/\/[\w.-]+\/|\n\s+at /);
      await until(() => log().includes(`${json.requestId}: 400 E_IMAGE`));
    }
  });

  it('refuses an image over MAX_IMAGE_PIXELS with 400, saying why in its log', async () => {
    const photo = readFileSync(join(root, 'crates/beit/tests/fixtures/images/chelsea.png'));
    const answer = await fetch(url, { method: 'POST', body: photo });
    expect(answer.status).toBe(400);
    const { requestId } = (await answer.json()) as { requestId: string };
    await until(() => new RegExp(`${requestId}: 400 E_IMAGE: .*100000`).test(log()));
  });

  it(
    'keeps answering others when a client hangs up mid-upload',
    async () => {
      // The 100 Continue says that the handler runs: the hang-up then comes mid-upload.
      const socket = await openUpload(url);
      socket.write('x'.repeat(20_000));
      socket.destroy();
      await until(() => log().includes('upload broke off') || server.exitCode !== null);
      expect(server.exitCode).toBeNull();
      const answer = await fetch(url, { method: 'POST', body: digit('4') });
      expect(answer.status).toBe(200);
    },
    HANG_GUARD_MS,
  );

  it(
    'answers 413 to an upload over MAX_BODY_BYTES without waiting for the rest of it',
    async () => {
      /** Sends the head and `sent` bytes of body, never ends the upload, and resolves with the answer. */
      const upload = async (headers: Record<string, string | number>, sent: number) => {
        const req = request(url, { method: 'POST', headers });
        req.on('error', () => {});
        req.flushHeaders();
        if (sent > 0) req.write(Buffer.alloc(sent, 1));
        const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
        let text = '';
        for await (const chunk of res) text += chunk;
        req.destroy();
        return { status: res.statusCode, json: JSON.parse(text) };
      };
      const declared = await upload({ 'content-length': 100 * MAX_BODY_BYTES }, 0);
      expect(declared).toMatchObject({ status: 413, json: { code: 'E_TOO_LARGE', limit: MAX_BODY_BYTES } });
      const streamed = await upload({ 'transfer-encoding': 'chunked' }, MAX_BODY_BYTES + 1);
      expect(streamed).toMatchObject({ status: 413, json: { code: 'E_TOO_LARGE', limit: MAX_BODY_BYTES } });
      const answer = await fetch(url, { method: 'POST', body: digit('2') });
      expect(answer.status).toBe(200);
    },
    HANG_GUARD_MS,
  );

  it(
    'cuts off a client that is silent or too slow',
    async () => {
      let timer: NodeJS.Timeout | undefined;
      const headersTrickled = await rawExchange('POST /classify HTTP/1.1\r\n', (write) => {
        timer = setInterval(() => write('X'), 100);
      });
      clearInterval(timer);
      expect(headersTrickled).toMatch(/^HTTP\/1\.1 408/);
      const bodyStalled = await rawExchange('POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab');
      // Closed by the idle timeout (no answer), or by the request timeout if it comes first (408).
      expect(bodyStalled === '' || bodyStalled.startsWith('HTTP/1.1 408')).toBe(true);
      const trickled = await rawExchange(
        'POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n',
        (write) => {
          timer = setInterval(() => write('a'), 100);
        },
      );
      clearInterval(timer);
      expect(trickled).toMatch(/^HTTP\/1\.1 408/);
      expect(server.exitCode).toBeNull();
    },
    HANG_GUARD_MS,
  );
});

describe('examples/server at its limits of concurrency and time', () => {
  it('answers 503 beyond MAX_IN_FLIGHT requests at once, unread, and serves again when they end', async () => {
    const started = await startServer({ MAX_IN_FLIGHT: '2' });
    try {
      const uploads = [await openUpload(started.url), await openUpload(started.url)];
      const busy = await fetch(started.url, { method: 'POST', body: digit('6') });
      expect(busy.status).toBe(503);
      expect(await busy.json()).toMatchObject({ code: 'E_OVERLOADED' });
      for (const socket of uploads) socket.destroy();
      await until(() => started.log.split('upload broke off').length === 3);
      const answer = await fetch(started.url, { method: 'POST', body: digit('6') });
      expect(answer.status).toBe(200);
    } finally {
      started.child.kill('SIGTERM');
    }
  });

  it('answers 503 with a code to calls that wait past CLASSIFY_TIMEOUT_MS, and keeps serving', async () => {
    const { child, url } = await startServer({ CLASSIFY_TIMEOUT_MS: '1', MAX_BATCH: '1' });
    try {
      const answers = await Promise.all(
        Array.from({ length: 16 }, () => fetch(url, { method: 'POST', body: digit('5') })),
      );
      const late = answers.filter((a) => a.status === 503);
      expect(late.length).toBeGreaterThan(0);
      for (const a of late) expect(await a.json()).toMatchObject({ code: 'E_TIMEOUT' });
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGTERM');
    }
  });
});
