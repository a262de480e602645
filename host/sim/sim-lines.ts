/**
 * How `wearable sim` and `wearable replay` print what the gateway verified: one text line or one
 * JSON Lines object per reading, the raw PPG of lab mode as lab CSV rows, and frames missing.
 */
import { HR_REASON_NAMES, alertNames, type PpgChunk } from "../../protocol/record.js";
import type { GatewayEvent, GatewayReading } from "../gateway/gateway.js";

export function readingLine(r: GatewayReading): string {
  const hr = r.hr === null ? `  --  ${r.hrReason ? ` ${HR_REASON_NAMES[r.hrReason] ?? `reason ${r.hrReason}`}` : ""}` : `${r.hr.toFixed(1).padStart(5)} bpm`;
  const t = r.tempC === null ? " -- " : `${r.tempC.toFixed(2)} C`;
  const alerts = r.alerts ? `  ALERT ${alertNames(r.alerts).join(",")}` : "";
  return `${r.time}  device ${r.device}  seq ${String(r.seq).padStart(5)}  hr ${hr} (quality ${String(r.hrQuality).padStart(3)})  skin ${t}${r.flags ? `  flags ${r.flags}${flagNames(r.flags)}` : ""}${alerts}`;
}

const FLAG_NAMES = ["no-contact", "hr-sensor-fault", "temp-sensor-fault", "motion", "low-battery", "time-unsynced", "irregular-rhythm"];

function flagNames(flags: number): string {
  const names: string[] = [];
  for (let i = 0; i < FLAG_NAMES.length; i++) if (flags & (1 << i)) names.push(FLAG_NAMES[i]);
  return names.length ? ` (${names.join(",")})` : "";
}

/** Rows of the lab CSV (time_ms,ir,red) for a raw PPG chunk; time from the sample index. */
export function ppgCsvRows(p: PpgChunk): string {
  let out = "";
  for (let i = 0; i < p.ir.length; i++) out += `${Math.round((((p.firstIndex + i) * 1000) / p.rate) * 1000) / 1000},${p.ir[i]},${p.red[i]}\n`;
  return out;
}

/** A reading as a JSON Lines object: the gateway's fields, with the alert bits also by name. */
export function readingJson(r: GatewayReading): Record<string, unknown> {
  return { type: "reading", ...r, alerts: alertNames(r.alerts ?? 0) };
}

/**
 * Frames missing before a frame: numbers the device used for frames the gateway has not
 * received (a late copy may still come). Numbers the device never used (the rest of a reserved
 * block after a reboot: `unusedBefore`) lose no data and are not reported.
 */
export function printGap(event: Extract<GatewayEvent, { kind: "readings" }>, json: boolean, out: (line: string) => void, err: (line: string) => void): void {
  if (event.gapBefore <= 0) return;
  if (json) out(JSON.stringify({ type: "gap", device: event.device, epoch: event.epoch, missingFrames: event.gapBefore, beforeFrameSeq: event.frameSeq }));
  else err(`gateway: device ${event.device}: ${event.gapBefore} frame(s) missing before frame ${event.frameSeq} (sent by the device, not received)`);
}
