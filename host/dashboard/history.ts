/**
 * What the dashboard keeps of a run from its start, so that a page that connects late or reloads
 * sees the whole run: the heart-rate and temperature trends (one point per verified reading, thinned
 * by min/max decimation past a bound), the alert episodes, the gateway's counts and events, and the
 * scenario timeline. Times are seconds of simulated time since the run's start.
 */
import type { GatewayReading } from "../gateway/gateway.js";

/** A trend point: simulated seconds, value (null: withheld), and the heart-rate quality (0-100). */
export type TrendPoint = [t: number, value: number | null, quality: number];

/** Points a trend keeps at most; past it, groups of four become their min and max (and a gap, if any). */
export const TREND_MAX_POINTS = 4000;
/** Gateway events kept for replay (the newest). */
export const EVENTS_KEPT = 200;
/** Alert episodes kept (the newest). */
export const EPISODES_KEPT = 200;

export interface AlertEpisode {
  name: string;
  fromS: number;
  /** End of the episode (the first reading without it), null while active. */
  toS: number | null;
}

export interface TimelinePhase {
  /** Simulated seconds since the run's start. */
  fromS: number;
  toS: number | null;
  label: string;
}

/** A scenario's shape, as much as the timeline needs (hal/sim/scenarios.ts). */
export interface ScenarioShape {
  name: string;
  summary: string;
  durationS: number;
  heartRate: { atS: number; bpm: number }[];
  skinTempC: { atS: number; celsius: number }[];
}

/**
 * A bounded trend: one point per reading; when it grows past `max`, every group of four points
 * (but the newest group) is replaced by its lowest and highest value, in time order, and a
 * withheld point when the group had one, so peaks, troughs and gaps survive thinning.
 */
export class Trend {
  readonly points: TrendPoint[] = [];
  constructor(private readonly max = TREND_MAX_POINTS) {}

  add(p: TrendPoint): void {
    this.points.push(p);
    if (this.points.length > this.max) this.decimate();
  }

  private decimate(): void {
    const out: TrendPoint[] = [];
    const keepTail = 4;
    const body = this.points.length - keepTail;
    for (let i = 0; i < body; i += 4) {
      const group = this.points.slice(i, Math.min(i + 4, body));
      const values = group.filter((p) => p[1] !== null);
      const picked = new Set<TrendPoint>();
      const gap = group.find((p) => p[1] === null);
      if (gap) picked.add(gap);
      if (values.length) {
        picked.add(values.reduce((a, b) => (b[1]! < a[1]! ? b : a)));
        picked.add(values.reduce((a, b) => (b[1]! > a[1]! ? b : a)));
      }
      out.push(...group.filter((p) => picked.has(p)));
    }
    out.push(...this.points.slice(body));
    this.points.length = 0;
    this.points.push(...out);
  }
}

/** A scenario's phases: one per segment between the heart-rate trace's points, from `atS` on. */
export function scenarioPhases(s: ScenarioShape, atS: number): TimelinePhase[] {
  const hr = s.heartRate;
  const phases: TimelinePhase[] = [];
  for (let i = 0; i + 1 < hr.length; i++) {
    const a = hr[i], b = hr[i + 1];
    if (b.atS <= a.atS) continue;
    const label = a.bpm === b.bpm ? `${a.bpm} bpm` : `${a.bpm} → ${b.bpm} bpm`;
    phases.push({ fromS: atS + a.atS, toS: atS + b.atS, label });
  }
  const last = hr[hr.length - 1];
  if (last) phases.push({ fromS: atS + (hr.length > 1 ? last.atS : 0), toS: null, label: `${last.bpm} bpm` });
  const temps = s.skinTempC.map((p) => p.celsius);
  const t = Math.min(...temps) === Math.max(...temps) ? `skin ${temps[0]} °C` : `skin ${Math.min(...temps)}-${Math.max(...temps)} °C`;
  if (phases.length) phases[0] = { ...phases[0], label: `${phases[0].label}, ${t}` };
  return phases;
}

export interface HistorySnapshot {
  hr: TrendPoint[];
  temp: TrendPoint[];
  episodes: AlertEpisode[];
  counts: { verified: number; rejected: number };
  timeline: { scenario: string; summary: string; atS: number; phases: TimelinePhase[] }[];
}

export class RunHistory {
  readonly hr: Trend;
  readonly temp: Trend;
  readonly episodes: AlertEpisode[] = [];
  readonly counts = { verified: 0, rejected: 0 };
  /** The messages a reconnecting page replays (gateway events, scenario switches, updates). */
  readonly events: unknown[] = [];
  readonly timeline: HistorySnapshot["timeline"] = [];
  /** Wall-clock ms of simulated time 0 (null until the run says, then the first reading's time). */
  startMs: number | null = null;

  constructor(maxPoints = TREND_MAX_POINTS) {
    this.hr = new Trend(maxPoints);
    this.temp = new Trend(maxPoints);
  }

  /** Seconds since the run's start of a reading. */
  secondsOf(r: Pick<GatewayReading, "timeMs">): number {
    if (this.startMs === null) this.startMs = r.timeMs;
    return Math.round(r.timeMs - this.startMs) / 1000;
  }

  /** Adds a verified reading; returns its time in seconds. */
  addReading(r: GatewayReading, alerts: string[]): number {
    const t = this.secondsOf(r);
    this.counts.verified++;
    this.hr.add([t, r.hr, r.hrQuality]);
    this.temp.add([t, r.tempC, r.hrQuality]);
    const active = new Set(alerts);
    for (const e of this.episodes) {
      if (e.toS !== null) continue;
      if (active.has(e.name)) active.delete(e.name);
      else e.toS = t;
    }
    for (const name of active) this.episodes.push({ name, fromS: t, toS: null });
    if (this.episodes.length > EPISODES_KEPT) this.episodes.splice(0, this.episodes.length - EPISODES_KEPT);
    return t;
  }

  addEvent(msg: unknown): void {
    this.events.push(msg);
    if (this.events.length > EVENTS_KEPT) this.events.shift();
  }

  /** A scenario starts at `atS` (the run's first, or a switch): the previous one's open phase ends there. */
  startScenario(s: ScenarioShape | null, name: string, atS: number): void {
    const prev = this.timeline[this.timeline.length - 1];
    if (prev) {
      prev.phases = prev.phases.filter((p) => p.fromS < atS).map((p) => (p.toS === null || p.toS > atS ? { ...p, toS: atS } : p));
    }
    this.timeline.push({ scenario: name, summary: s?.summary ?? "", atS, phases: s ? scenarioPhases(s, atS) : [] });
  }

  snapshot(): HistorySnapshot {
    return { hr: this.hr.points, temp: this.temp.points, episodes: this.episodes, counts: this.counts, timeline: this.timeline };
  }
}
