/**
 * Frames the fleet's generator devices send in a run: device i of n boots `i * period / n` after
 * the first and sends at period + offset + k * period, up to the run's end.
 */
export function expectedFrames(n: number, minutes: number, periodS: number): number {
  const periodMs = periodS * 1000;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const first = periodMs + Math.floor((i * periodMs) / n);
    const end = minutes * 60_000;
    if (first <= end) total += Math.floor((end - first) / periodMs) + 1;
  }
  return total;
}
