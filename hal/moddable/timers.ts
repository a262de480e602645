/// <reference path="../../typings/index.d.ts" />
/**
 * The `Timers` and `Clock` contracts over the SDK's `timer` and `time` modules. The SDK's timer
 * handles are objects; the contract hands out numbers, so this adapter keeps the mapping.
 */
import Timer from "timer";
import type { TimerHandle } from "timer";
import Time from "time";
import type { Clock, TimerCallback, TimerId, Timers } from "../contracts/timer.js";

/** Wall-clock values before 2020 mean the clock was never set (no SNTP, no phone sync yet). */
const EARLIEST_PLAUSIBLE_MS = 1_577_836_800_000;

export class ModdableTimers implements Timers, Clock {
  private readonly handles = new Map<TimerId, TimerHandle>();
  private nextId = 1;

  set(callback: TimerCallback, delayMs: number, repeatMs?: number): TimerId {
    const id = this.nextId++;
    const repeating = repeatMs !== undefined && repeatMs > 0;
    const fire = () => {
      if (!repeating) this.handles.delete(id);
      callback(id);
    };
    const handle = repeating ? Timer.set(fire, Math.max(0, delayMs), repeatMs) : Timer.set(fire, Math.max(0, delayMs));
    this.handles.set(id, handle);
    return id;
  }

  repeat(callback: TimerCallback, intervalMs: number): TimerId {
    const id = this.nextId++;
    this.handles.set(id, Timer.repeat(() => callback(id), Math.max(1, intervalMs)));
    return id;
  }

  clear(id: TimerId): void {
    const handle = this.handles.get(id);
    if (handle === undefined) return;
    this.handles.delete(id);
    Timer.clear(handle);
  }

  ticks(): number {
    return Time.ticks;
  }

  wallTime(): number {
    const now = Date.now();
    return now >= EARLIEST_PLAUSIBLE_MS ? now : Number.NaN;
  }

  /** Sets the wall clock (from SNTP or a phone's time sync). */
  setWallTime(ms: number): void {
    Time.set(Math.floor(ms / 1000));
  }
}
