/** Fake of the SDK's `time` module: `Time.set` is recorded; ticks come from the test. */
export const clockSettings = {
  /** Seconds passed to Time.set, in order. */
  set: [] as number[],
  ticks: 0,
  reset(): void {
    this.set = [];
    this.ticks = 0;
  },
};

const Time = {
  get ticks(): number {
    return clockSettings.ticks;
  },
  set(seconds: number): void {
    clockSettings.set.push(seconds);
  },
  timezone: 0,
  dst: 0,
  delta(start: number, end?: number): number {
    return (end ?? clockSettings.ticks) - start;
  },
};
export default Time;
