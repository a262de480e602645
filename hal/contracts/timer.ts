/**
 * Timers and time, shaped after the Moddable SDK's `timer` module (`Timer.set`, `Timer.repeat`,
 * `Timer.clear`) and `Time.ticks`.
 */
export type TimerId = number;
export type TimerCallback = (id: TimerId) => void;

export interface Timers {
  /** One-shot after `delayMs`; with `repeatMs`, then repeating at that interval (SDK semantics). */
  set(callback: TimerCallback, delayMs: number, repeatMs?: number): TimerId;
  /** Repeats every `intervalMs`, first call after `intervalMs`. */
  repeat(callback: TimerCallback, intervalMs: number): TimerId;
  clear(id: TimerId): void;
}

export interface Clock {
  /** Monotonic milliseconds since boot (`Time.ticks`). */
  ticks(): number;
  /** Wall-clock milliseconds since the Unix epoch, or NaN while the time is unknown. */
  wallTime(): number;
}
