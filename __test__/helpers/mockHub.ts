// A HuggingFace hub on 127.0.0.1: `/{repo}/resolve/{revision}/{file}` with the hub's headers
// (ETag, X-Repo-Commit, X-Error-Code) and Range requests. The Rust tests cover the download
// protocol in depth; this one lets the JS API and the CLI be tested end to end.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export const COMMIT = 'feedface'.repeat(5);

export interface MockHub {
  url: string;
  /** Paths requested so far. */
  requests: string[];
  close(): Promise<void>;
}

/** A hub serving `repos`: repo id -> (file name -> directory holding it). */
export async function startMockHub(repos: Record<string, Record<string, string>>): Promise<MockHub> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    serve(repos, req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function fail(res: ServerResponse, status: number, code: string, commit?: string): void {
  res.writeHead(status, { 'X-Error-Code': code, ...(commit ? { 'X-Repo-Commit': commit } : {}) });
  res.end(code);
}

/** The directory holding the requested file, or the error the hub would answer. */
function locate(repos: Record<string, Record<string, string>>, url: string): { file: string; dir: string } | Error {
  const [, repoId = '', revision = '', file = ''] = /^\/(.+)\/resolve\/([^/]+)\/(.+)$/.exec(url) ?? [];
  const repo = repos[repoId];
  if (!repo) return Object.assign(new Error('RepoNotFound'), { status: 401 });
  if (revision !== 'main' && revision !== COMMIT) return Object.assign(new Error('RevisionNotFound'), { status: 404 });
  const dir = repo[file];
  if (dir === undefined) return Object.assign(new Error('EntryNotFound'), { status: 404, commit: COMMIT });
  return { file, dir };
}

function serve(repos: Record<string, Record<string, string>>, req: IncomingMessage, res: ServerResponse): void {
  const found = locate(repos, req.url ?? '');
  if (found instanceof Error) {
    const { status, commit } = found as Error & { status: number; commit?: string };
    fail(res, status, found.message, commit);
    return;
  }
  const content = readFileSync(join(found.dir, found.file));
  const etag = createHash('sha256').update(content).digest('hex');
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  const end = range?.[2] ? Number(range[2]) + 1 : content.length;
  const headers = { ETag: `"${etag}"`, 'X-Repo-Commit': COMMIT };
  if (range) {
    res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${end - 1}/${content.length}` });
  } else {
    res.writeHead(200, headers);
  }
  res.end(content.subarray(start, end));
}
