// A local HTTP server on 127.0.0.1 that serves images the way real servers misbehave: slow to answer,
// slow to send, huge (declared or streamed), redirecting in a loop or to another scheme, missing,
// an HTML page instead of an image. Each request is counted by path, so a test can tell that a URL
// it expected refused was never asked for.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ImageServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** Requests received, by path. */
  hits: Map<string, number>;
  close(): Promise<void>;
}

type Route = (req: IncomingMessage, res: ServerResponse) => void;

/** Serves `image` (PNG bytes) under `/image.png`, and the misbehaving routes beside it. */
export async function startImageServer(image: Uint8Array): Promise<ImageServer> {
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const routes: Record<string, Route> = {
    '/image.png': (_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(image),
    '/no-type': (_req, res) => res.writeHead(200).end(image),
    '/redirect': (_req, res) => res.writeHead(302, { location: '/image.png' }).end(),
    '/redirect-twice': (_req, res) => res.writeHead(301, { location: '/redirect' }).end(),
    '/loop': (_req, res) => res.writeHead(302, { location: '/loop' }).end(),
    '/to-ftp': (_req, res) => res.writeHead(302, { location: 'ftp://127.0.0.1/image.png' }).end(),
    '/to-file': (_req, res) => res.writeHead(307, { location: 'file:///etc/passwd' }).end(),
    '/missing': (_req, res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('not found'),
    '/error': (_req, res) => res.writeHead(500).end(),
    '/page.html': (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>a page</html>'),
    '/garbage': (_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end('this is not a png'),
    // 10 GB declared: refused from the header, before a byte of the body is read.
    '/huge-declared': (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(10 * 1024 ** 3) });
      res.write(Buffer.alloc(64 * 1024));
    },
    // No length declared, and no end: refused once the bytes read pass the limit.
    '/huge-streamed': (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' });
      const chunk = Buffer.alloc(256 * 1024);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {}
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    },
    // Never answers: the connect/answer timeout's case.
    '/silent': () => {},
    // Answers at once, then sends a byte a second: the whole-transfer timeout's case.
    '/trickle': (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' });
      let sent = 0;
      const drip = () => {
        if (res.destroyed || sent >= image.length) return void res.end();
        res.write(image.subarray(sent, sent + 1));
        sent += 1;
        later(1000, drip);
      };
      drip();
    },
  };
  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    (routes[path] ?? routes['/missing'])?.(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    hits,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
