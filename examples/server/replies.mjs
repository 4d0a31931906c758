// What a client is told when a request fails: a status, a stable code, a fixed message and the
// request's id. The error itself (its message may name server paths, its stack the server's code)
// goes to the server's log under that id, never to the client.

/** Status and public message per error code; any other failure is a 500. */
const PUBLIC = {
  E_IMAGE: [400, 'the body is no image this server reads (JPEG, PNG, WebP, GIF, BMP, TIFF) or is over its pixel limit'],
  E_TOO_LARGE: [413, 'the body is over the size limit'],
  E_OVERLOADED: [503, 'the server is busy: retry later'],
  E_TIMEOUT: [503, 'the server did not answer in time: retry later'],
};

/** Sends `body` as JSON, unless the response is already under way or its client is gone. */
export function reply(res, status, body, headers = {}) {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** The code a failure is reported under. */
function codeOf(err) {
  if (err?.name === 'TimeoutError') return 'E_TIMEOUT';
  return typeof err?.code === 'string' && err.code in PUBLIC ? err.code : 'E_INTERNAL';
}

/** Logs `err` under `id` and answers the client with what it may know of it. */
export function replyError(res, id, err) {
  const code = codeOf(err);
  const [status, message] = PUBLIC[code] ?? [500, 'internal error'];
  // Stacks for the server's own failures; a client's mistake needs only its message.
  console.error(`${id}: ${status} ${code}: ${status === 500 ? (err?.stack ?? err) : (err?.message ?? err)}`);
  // The size limit is the client's to know; anything else about the server is not.
  const detail = code === 'E_TOO_LARGE' ? { limit: err.limit } : {};
  const headers = status === 503 ? { 'retry-after': '1' } : status === 413 ? { connection: 'close' } : {};
  reply(res, status, { error: `${message} (request ${id})`, code, requestId: id, ...detail }, headers);
}
