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
  return median(times);
}

/** The middle value (the upper one of the two middles for an even count). */
export function median(values) {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}
