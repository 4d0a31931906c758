/**
 * The worker's health over HTTP, for process supervisors and Kubernetes probes: `GET /healthz` answers
 * 200 while the process serves, `GET /readyz` 200 once the model is loaded and the queue connected
 * (503 before, and while closing); both with the worker's counters as JSON.
 * @module
 */
import { createServer, type Server } from 'node:http';

/** The worker's state, as `/healthz` and `/readyz` answer it in JSON. */
export interface WorkerHealth {
  /** The model is loaded and the queue connected; jobs are being taken. */
  ready: boolean;
  /** `close()` has begun: no new jobs are taken. */
  closing: boolean;
  /** Jobs running now. */
  active: number;
  /** Jobs completed since the start. */
  completed: number;
  /** Jobs failed since the start. */
  failed: number;
}

/** Serves `health()` on `host:port` (port 0: any free one); resolves once listening. */
export async function serveHealth(host: string, port: number, health: () => WorkerHealth): Promise<Server> {
  const server = createServer((req, res) => {
    const state = health();
    const ok = req.url === '/healthz' || (req.url === '/readyz' && state.ready && !state.closing);
    const known = req.url === '/healthz' || req.url === '/readyz';
    res.writeHead(known ? (ok ? 200 : 503) : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(state));
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(port, host, done);
  });
  return server;
}
