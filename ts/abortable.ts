/**
 * Ties a pending native request to an `AbortSignal`: on abort the request is withdrawn from the
 * model's queue if it has not started, and the caller's promise rejects with `signal.reason` at
 * once either way (a batch already running finishes, and its result is dropped).
 * @module
 */

export function abortable<T>(pending: Promise<T>, signal: AbortSignal, withdraw: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      withdraw();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
