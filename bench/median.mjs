// The timing rule of every benchmark here: one warm-up call, then the median of `runs` timed calls.

/** Median milliseconds of `runs` calls of `fn`, after one untimed call. */
export async function medianMs(fn, runs) {
  await fn();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)];
}
