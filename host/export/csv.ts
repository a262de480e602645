/** Readings as CSV (RFC 4180, UTC times), one row per reading in sequence order. */
import type { GatewayReading } from "../gateway/gateway.js";

export const CSV_HEADER = "device,seq,time_utc,hr_bpm,hr_quality,skin_temp_c,flags,epoch,frame_seq,generation";

export function readingsCsv(readings: readonly GatewayReading[]): string {
  const lines = [CSV_HEADER];
  for (const r of readings) {
    lines.push([r.device, r.seq, new Date(r.timeMs).toISOString(), r.hr ?? "", r.hrQuality, r.tempC ?? "", r.flags, r.epoch, r.frameSeq, r.generation ?? 0].join(","));
  }
  return lines.join("\r\n") + "\r\n";
}
