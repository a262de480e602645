import type { Clock, TimerCallback, TimerId, Timers } from "../contracts/timer.js";

interface ScheduledTimer {
  id: TimerId;
  due: number;
  /** Repeat interval in ms, or 0 for a one-shot timer. */
  repeatMs: number;
  callback: TimerCallback;
}

export interface VirtualClockOptions {
  /** Wall-clock time at boot (ms since the Unix epoch); NaN means "unknown until set". */
  startWallTimeMs?: number;
}

/**
 * Virtual time for the simulated board: implements the SDK-shaped `Timers` and `Clock`.
 *
 * Nothing happens until `advance(ms)` is called; it runs every timer that falls due inside the
 * window in time order (timers set by callbacks inside the window run too). Timers due at the
 * same instant run in creation order (lowest id first), so a run is fully deterministic.
 */
export class VirtualClock implements Timers, Clock {
  private now = 0;
  private wallAtBoot: number;
  private nextId = 1;
  /** Pending timers, kept sorted by (due, id). */
  private readonly queue: ScheduledTimer[] = [];

  constructor(options: VirtualClockOptions = {}) {
    this.wallAtBoot = options.startWallTimeMs ?? Number.NaN;
  }

  /** Virtual milliseconds since boot. */
  ticks(): number {
    return this.now;
  }

  /** Wall-clock ms since the epoch, or NaN while the start wall time is unknown. */
  wallTime(): number {
    return this.wallAtBoot + this.now;
  }

  /** Sets the current wall-clock time (as an SNTP or phone time sync would). */
  setWallTime(wallMs: number): void {
    this.wallAtBoot = wallMs - this.now;
  }

  set(callback: TimerCallback, delayMs: number, repeatMs?: number): TimerId {
    const id = this.nextId++;
    const delay = Number.isFinite(delayMs) && delayMs > 0 ? delayMs : 0;
    const repeat = repeatMs !== undefined && Number.isFinite(repeatMs) && repeatMs > 0 ? Math.max(1, repeatMs) : 0;
    this.insert({ id, due: this.now + delay, repeatMs: repeat, callback });
    return id;
  }

  repeat(callback: TimerCallback, intervalMs: number): TimerId {
    const interval = Number.isFinite(intervalMs) && intervalMs >= 1 ? intervalMs : 1;
    return this.set(callback, interval, interval);
  }

  clear(id: TimerId): void {
    const i = this.indexOf(id);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** Number of pending timers. */
  get pendingTimers(): number {
    return this.queue.length;
  }

  /** Milliseconds until the next timer is due (0 if overdue), or null when none is pending. */
  nextDueIn(): number | null {
    if (this.queue.length === 0) return null;
    return Math.max(0, this.queue[0].due - this.now);
  }

  /**
   * Moves virtual time forward by `ms`, running every timer due in the window in order.
   * Returns the number of timer callbacks run.
   */
  advance(ms: number): number {
    if (!(ms >= 0)) throw new RangeError(`cannot advance the clock by ${ms} ms`);
    return this.advanceTo(this.now + ms);
  }

  /** Moves virtual time forward to `ticks` (no-op when it is in the past). */
  advanceTo(ticks: number): number {
    let runs = 0;
    while (this.queue.length > 0 && this.queue[0].due <= ticks) {
      const timer = this.queue.shift() as ScheduledTimer;
      if (timer.due > this.now) this.now = timer.due;
      if (timer.repeatMs > 0) {
        timer.due += timer.repeatMs;
        this.insert(timer);
      }
      runs++;
      timer.callback(timer.id);
    }
    if (ticks > this.now) this.now = ticks;
    return runs;
  }

  /** Advances to the next pending timer and runs everything due then; false when none is pending. */
  runNext(): boolean {
    if (this.queue.length === 0) return false;
    this.advanceTo(this.queue[0].due);
    return true;
  }

  private indexOf(id: TimerId): number {
    for (let i = 0; i < this.queue.length; i++) if (this.queue[i].id === id) return i;
    return -1;
  }

  private insert(timer: ScheduledTimer): void {
    const q = this.queue;
    let i = q.length;
    while (i > 0 && (q[i - 1].due > timer.due || (q[i - 1].due === timer.due && q[i - 1].id > timer.id))) i--;
    q.splice(i, 0, timer);
  }
}
