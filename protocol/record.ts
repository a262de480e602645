/**
 * Records, schema 1: a batch of readings, encoded as deterministic CBOR with small integer keys.
 *
 *   record  = { 0: schema (1), 1: frameSeq, 2: firmwareVersion, 3: [* reading] }
 *   reading = { 0: seq, 1: timeMs, 2: hr (deci-bpm) / null, 3: hrQuality, 4: temp (centi-C) / null, 5: flags,
 *               ? 6: alerts, ? 7: hrReason }
 *
 * docs/protocol.md is the normative description.
 */
import { CborWriter, decodeCbor, describeCborError } from "./cbor.js";
import type { CborValue } from "./cbor.js";
import { utf8Length } from "./bytes.js";

export const RECORD_SCHEMA = 1;

export const RECORD_KEY_SCHEMA = 0;
export const RECORD_KEY_FRAME_SEQ = 1;
export const RECORD_KEY_FIRMWARE = 2;
export const RECORD_KEY_READINGS = 3;
/** Optional: a chunk of raw PPG samples (lab mode), see PpgChunk. */
export const RECORD_KEY_PPG = 4;
export const PPG_KEY_FIRST_INDEX = 0;
export const PPG_KEY_RATE = 1;
export const PPG_KEY_SAMPLES = 2;
/** Raw PPG pairs per record at most (6 bytes each: IR then red, 3-byte big-endian 18-bit counts). */
export const MAX_PPG_PAIRS = 500;

export const READING_KEY_SEQ = 0;
export const READING_KEY_TIME = 1;
export const READING_KEY_HR = 2;
export const READING_KEY_QUALITY = 3;
export const READING_KEY_TEMP = 4;
export const READING_KEY_FLAGS = 5;
/** Optional: active alert bits (ALERT_*), present only when not 0. */
export const READING_KEY_ALERTS = 6;
/** Optional: why there is no heart rate (HR_REASON_*), present only when hr is null. */
export const READING_KEY_HR_REASON = 7;

/** Why a reading has no heart rate (reading key 7); the estimator's reason codes. */
export const HR_REASON_WARMING_UP = 1;
export const HR_REASON_NO_CONTACT = 2;
export const HR_REASON_WEAK_PULSE = 3;
export const HR_REASON_MOTION = 4;
export const HR_REASON_AMBIGUOUS = 5;
export const HR_REASON_GAP = 6;
export const MAX_HR_REASON = 15;
/** Names of the reason codes, index = code (0: there is a rate). */
export const HR_REASON_NAMES: readonly string[] = ["ok", "warming-up", "no-contact", "weak-pulse", "motion", "ambiguous", "gap"];

/** Reading flags (bit field). Bits not named here are reserved: senders leave them 0, receivers keep them. */
export const FLAG_NO_CONTACT = 1 << 0;
export const FLAG_HR_SENSOR_FAULT = 1 << 1;
export const FLAG_TEMP_SENSOR_FAULT = 1 << 2;
export const FLAG_MOTION = 1 << 3;
export const FLAG_LOW_BATTERY = 1 << 4;
export const FLAG_TIME_UNSYNCED = 1 << 5;
/** Clean beats at irregular intervals (e.g. atrial fibrillation); the rate is the mean over the beats. */
export const FLAG_IRREGULAR_RHYTHM = 1 << 6;

/** Alert bits (reading key 6). */
export const ALERT_BRADYCARDIA = 1 << 0;
export const ALERT_TACHYCARDIA = 1 << 1;
export const ALERT_FEVER = 1 << 2;
export const ALERT_NO_CONTACT = 1 << 3;
export const ALERT_SENSOR_FAULT = 1 << 4;
export const ALERT_LOW_TEMPERATURE = 1 << 5;
export const MAX_ALERTS = 0xff;
/** Names of the alert bits, index = bit number. */
export const ALERT_NAMES: readonly string[] = ["bradycardia", "tachycardia", "fever", "no-contact", "sensor-fault", "low-temperature"];

/** Names of the alert bits set in `bits`, for logs, the simulator and the dashboard. */
export function alertNames(bits: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < ALERT_NAMES.length; i++) if (bits & (1 << i)) out.push(ALERT_NAMES[i]);
  return out;
}

export const MAX_READINGS = 64;
export const MAX_FIRMWARE_VERSION_BYTES = 32;
/** Largest frame sequence number: 5-byte Partial IV (2^40 - 1). */
export const MAX_FRAME_SEQ = 0xffffffffff;
export const MAX_READING_SEQ = 0xffffffff;
/** Largest wall time: the ECMAScript Date range (8.64e15 ms). */
export const MAX_TIME_MS = 8_640_000_000_000_000;
export const MAX_DECI_BPM = 3000;
export const MIN_CENTI_C = -5500;
export const MAX_CENTI_C = 15000;
export const MAX_FLAGS = 0xffff;

export interface Reading {
  /** Reading counter (uint32). */
  seq: number;
  /** Wall time, integer milliseconds since the Unix epoch. */
  timeMs: number;
  /** Heart rate in bpm at 0.1 bpm resolution (0..300), or null when there is none. */
  hrBpm: number | null;
  /** Heart-rate quality, 0..100. */
  hrQuality: number;
  /** Skin temperature in degrees Celsius at 0.01 C resolution (-55..150), or null. */
  tempC: number | null;
  /** FLAG_* bits (0..0xffff). */
  flags: number;
  /** Active ALERT_* bits (1..0xff); absent (or 0) when no alert is active. */
  alerts?: number;
  /** Why `hrBpm` is null (HR_REASON_*, 1..15); absent (or 0) when there is a rate or no reason. */
  hrReason?: number;
}

/** Raw PPG samples as the chip delivered them (lab mode). */
export interface PpgChunk {
  /** Index of the first sample since sampling started (sample n is at n / rate s). */
  firstIndex: number;
  /** Samples per second. */
  rate: number;
  /** IR counts (0..262143). */
  ir: ArrayLike<number>;
  /** Red counts, as many as IR. */
  red: ArrayLike<number>;
}

export interface RecordV1 {
  schema: 1;
  frameSeq: number;
  firmwareVersion: string;
  readings: Reading[];
  /** Optional raw PPG chunk (lab mode). */
  ppg?: PpgChunk;
}

export type RecordErrorCode =
  | "cbor"
  | "unsupported-schema"
  | "wrong-type"
  | "out-of-range"
  | "missing-field"
  | "unknown-field";

export interface RecordError {
  code: RecordErrorCode;
  /** Where in the record, e.g. "readings[2].hrBpm". */
  path: string;
  message: string;
}

export type RecordDecodeResult = { ok: true; record: RecordV1 } | { ok: false; error: RecordError };

export class RecordEncodeError extends RangeError {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "RecordEncodeError";
  }
}

function intIn(v: unknown, min: number, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
}

/** deci-bpm for a heart rate, or throws. */
function deciBpm(hr: number, path: string): number {
  if (typeof hr !== "number" || !Number.isFinite(hr)) throw new RecordEncodeError(path, "not a finite number");
  const d = Math.round(hr * 10);
  if (d < 0 || d > MAX_DECI_BPM) throw new RecordEncodeError(path, `${hr} bpm outside 0..300`);
  return d;
}

function centiC(t: number, path: string): number {
  if (typeof t !== "number" || !Number.isFinite(t)) throw new RecordEncodeError(path, "not a finite number");
  const c = Math.round(t * 100);
  if (c < MIN_CENTI_C || c > MAX_CENTI_C) throw new RecordEncodeError(path, `${t} C outside -55..150`);
  return c;
}

/**
 * Encodes a record. Values are rounded to the wire resolution (0.1 bpm, 0.01 C).
 * Throws RecordEncodeError for values outside the schema (a bug in the caller).
 */
export function encodeRecord(record: RecordV1): Uint8Array {
  return writeRecord(record, new CborWriter(256)).toBytes();
}

/** Encodes a record into `writer` (after resetting it), so a long-lived writer can be reused. */
export function writeRecord(record: RecordV1, writer: CborWriter): CborWriter {
  if (record.schema !== RECORD_SCHEMA) throw new RecordEncodeError("schema", `must be ${RECORD_SCHEMA}`);
  if (!intIn(record.frameSeq, 0, MAX_FRAME_SEQ)) throw new RecordEncodeError("frameSeq", "not an integer in 0..2^40-1");
  if (typeof record.firmwareVersion !== "string" || utf8Length(record.firmwareVersion) > MAX_FIRMWARE_VERSION_BYTES) {
    throw new RecordEncodeError("firmwareVersion", `not a string of at most ${MAX_FIRMWARE_VERSION_BYTES} bytes`);
  }
  const readings = record.readings;
  if (!Array.isArray(readings) || readings.length > MAX_READINGS) {
    throw new RecordEncodeError("readings", `not an array of at most ${MAX_READINGS} readings`);
  }
  const ppg = record.ppg;
  if (ppg !== undefined) {
    if (!intIn(ppg.firstIndex, 0, MAX_FRAME_SEQ)) throw new RecordEncodeError("ppg.firstIndex", "not an integer in 0..2^40-1");
    if (!intIn(ppg.rate, 1, 3200)) throw new RecordEncodeError("ppg.rate", "not an integer in 1..3200");
    if (ppg.ir.length !== ppg.red.length || ppg.ir.length > MAX_PPG_PAIRS) throw new RecordEncodeError("ppg", `IR and red must have the same length, at most ${MAX_PPG_PAIRS}`);
  }
  const w = writer.reset();
  w.mapHeader(ppg === undefined ? 4 : 5);
  w.int(RECORD_KEY_SCHEMA).int(RECORD_SCHEMA);
  w.int(RECORD_KEY_FRAME_SEQ).int(record.frameSeq);
  w.int(RECORD_KEY_FIRMWARE).text(record.firmwareVersion);
  w.int(RECORD_KEY_READINGS).arrayHeader(readings.length);
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i];
    const at = `readings[${i}]`;
    if (!intIn(r.seq, 0, MAX_READING_SEQ)) throw new RecordEncodeError(`${at}.seq`, "not an integer in 0..2^32-1");
    if (!intIn(r.timeMs, 0, MAX_TIME_MS)) throw new RecordEncodeError(`${at}.timeMs`, "not an integer in 0..8.64e15");
    if (!intIn(r.hrQuality, 0, 100)) throw new RecordEncodeError(`${at}.hrQuality`, "not an integer in 0..100");
    if (!intIn(r.flags, 0, MAX_FLAGS)) throw new RecordEncodeError(`${at}.flags`, "not an integer in 0..0xffff");
    const alerts = r.alerts ?? 0;
    if (!intIn(alerts, 0, MAX_ALERTS)) throw new RecordEncodeError(`${at}.alerts`, "not an integer in 0..255");
    const reason = r.hrReason ?? 0;
    if (!intIn(reason, 0, MAX_HR_REASON)) throw new RecordEncodeError(`${at}.hrReason`, "not an integer in 0..15");
    if (reason && r.hrBpm !== null) throw new RecordEncodeError(`${at}.hrReason`, "only a reading without a heart rate has a reason");
    w.mapHeader(6 + (alerts ? 1 : 0) + (reason ? 1 : 0));
    w.int(READING_KEY_SEQ).int(r.seq);
    w.int(READING_KEY_TIME).int(r.timeMs);
    w.int(READING_KEY_HR);
    if (r.hrBpm === null) w.simple(null);
    else w.int(deciBpm(r.hrBpm, `${at}.hrBpm`));
    w.int(READING_KEY_QUALITY).int(r.hrQuality);
    w.int(READING_KEY_TEMP);
    if (r.tempC === null) w.simple(null);
    else w.int(centiC(r.tempC, `${at}.tempC`));
    w.int(READING_KEY_FLAGS).int(r.flags);
    if (alerts) w.int(READING_KEY_ALERTS).int(alerts);
    if (reason) w.int(READING_KEY_HR_REASON).int(reason);
  }
  if (ppg !== undefined) {
    const n = ppg.ir.length;
    const bytes = new Uint8Array(n * 6);
    for (let i = 0; i < n; i++) {
      put18(bytes, i * 6, ppg.ir[i], `ppg.ir[${i}]`);
      put18(bytes, i * 6 + 3, ppg.red[i], `ppg.red[${i}]`);
    }
    w.int(RECORD_KEY_PPG).mapHeader(3);
    w.int(PPG_KEY_FIRST_INDEX).int(ppg.firstIndex);
    w.int(PPG_KEY_RATE).int(ppg.rate);
    w.int(PPG_KEY_SAMPLES).bytes(bytes);
  }
  return w;
}

function put18(out: Uint8Array, at: number, v: number, path: string): void {
  if (!intIn(v, 0, 0x3ffff)) throw new RecordEncodeError(path, "not an 18-bit count");
  out[at] = v >> 16;
  out[at + 1] = (v >> 8) & 0xff;
  out[at + 2] = v & 0xff;
}

class RecordFailure {
  constructor(readonly error: RecordError) {}
}

function bad(code: RecordErrorCode, path: string, message: string): never {
  throw new RecordFailure({ code, path, message });
}

function asMap(v: CborValue | undefined, path: string, keys: number): Map<unknown, CborValue> {
  if (!(v instanceof Map)) bad("wrong-type", path, "not a map");
  for (const k of v.keys()) {
    if (typeof k !== "number" || !Number.isInteger(k) || k < 0 || k >= keys) bad("unknown-field", path, `unknown key ${String(k)}`);
  }
  return v as Map<unknown, CborValue>;
}

function field(m: Map<unknown, CborValue>, key: number, path: string): CborValue {
  if (!m.has(key)) bad("missing-field", path, "missing");
  return m.get(key) as CborValue;
}

function intField(m: Map<unknown, CborValue>, key: number, path: string, min: number, max: number): number {
  const v = field(m, key, path);
  if (typeof v !== "number") bad("wrong-type", path, "not an integer");
  if (v < min || v > max) bad("out-of-range", path, `${v} outside ${min}..${max}`);
  return v;
}

function decodePpg(v: CborValue): PpgChunk {
  const p = asMap(v, "ppg", 3);
  const firstIndex = intField(p, PPG_KEY_FIRST_INDEX, "ppg.firstIndex", 0, MAX_FRAME_SEQ);
  const rate = intField(p, PPG_KEY_RATE, "ppg.rate", 1, 3200);
  const b = field(p, PPG_KEY_SAMPLES, "ppg.samples");
  if (!(b instanceof Uint8Array)) bad("wrong-type", "ppg.samples", "not a byte string");
  if (b.length % 6 !== 0 || b.length > MAX_PPG_PAIRS * 6) bad("out-of-range", "ppg.samples", `length ${b.length} is not a multiple of 6 up to ${MAX_PPG_PAIRS * 6}`);
  const n = b.length / 6;
  const ir = new Int32Array(n);
  const red = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * 6;
    if (b[o] > 3 || b[o + 3] > 3) bad("out-of-range", "ppg.samples", `sample ${i} is not an 18-bit count`);
    ir[i] = (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];
    red[i] = (b[o + 3] << 16) | (b[o + 4] << 8) | b[o + 5];
  }
  return { firstIndex, rate, ir, red };
}

/** Decodes and validates a schema-1 record; never throws. */
export function decodeRecord(bytes: Uint8Array): RecordDecodeResult {
  const d = decodeCbor(bytes, { maxDepth: 3 });
  if (!d.ok) return { ok: false, error: { code: "cbor", path: "", message: describeCborError(d.error) } };
  try {
    const top = d.value;
    if (!(top instanceof Map)) bad("wrong-type", "", "record is not a map");
    const schema = top.get(RECORD_KEY_SCHEMA);
    if (schema !== RECORD_SCHEMA) {
      bad("unsupported-schema", "schema", `schema ${schema === undefined ? "missing" : String(schema)}, only ${RECORD_SCHEMA} is supported`);
    }
    const m = asMap(top, "", 5);
    const frameSeq = intField(m, RECORD_KEY_FRAME_SEQ, "frameSeq", 0, MAX_FRAME_SEQ);
    const fw = field(m, RECORD_KEY_FIRMWARE, "firmwareVersion");
    if (typeof fw !== "string") bad("wrong-type", "firmwareVersion", "not a text string");
    if (utf8Length(fw) > MAX_FIRMWARE_VERSION_BYTES) bad("out-of-range", "firmwareVersion", `longer than ${MAX_FIRMWARE_VERSION_BYTES} bytes`);
    const list = field(m, RECORD_KEY_READINGS, "readings");
    if (!Array.isArray(list)) bad("wrong-type", "readings", "not an array");
    if (list.length > MAX_READINGS) bad("out-of-range", "readings", `more than ${MAX_READINGS} readings`);
    const readings: Reading[] = [];
    for (let i = 0; i < list.length; i++) {
      const at = `readings[${i}]`;
      const r = asMap(list[i], at, 8);
      let alerts: number | undefined;
      if (r.has(READING_KEY_ALERTS)) alerts = intField(r, READING_KEY_ALERTS, `${at}.alerts`, 1, MAX_ALERTS);
      const hr = field(r, READING_KEY_HR, `${at}.hrBpm`);
      let hrReason: number | undefined;
      if (r.has(READING_KEY_HR_REASON)) {
        hrReason = intField(r, READING_KEY_HR_REASON, `${at}.hrReason`, 1, MAX_HR_REASON);
        if (hr !== null) bad("out-of-range", `${at}.hrReason`, "a reason next to a heart rate");
      }
      if (hr !== null && typeof hr !== "number") bad("wrong-type", `${at}.hrBpm`, "not an integer or null");
      if (typeof hr === "number" && (hr < 0 || hr > MAX_DECI_BPM)) bad("out-of-range", `${at}.hrBpm`, `${hr} deci-bpm outside 0..${MAX_DECI_BPM}`);
      const temp = field(r, READING_KEY_TEMP, `${at}.tempC`);
      if (temp !== null && typeof temp !== "number") bad("wrong-type", `${at}.tempC`, "not an integer or null");
      if (typeof temp === "number" && (temp < MIN_CENTI_C || temp > MAX_CENTI_C)) {
        bad("out-of-range", `${at}.tempC`, `${temp} centi-C outside ${MIN_CENTI_C}..${MAX_CENTI_C}`);
      }
      readings.push({
        seq: intField(r, READING_KEY_SEQ, `${at}.seq`, 0, MAX_READING_SEQ),
        timeMs: intField(r, READING_KEY_TIME, `${at}.timeMs`, 0, MAX_TIME_MS),
        hrBpm: hr === null ? null : hr / 10,
        hrQuality: intField(r, READING_KEY_QUALITY, `${at}.hrQuality`, 0, 100),
        tempC: temp === null ? null : temp / 100,
        flags: intField(r, READING_KEY_FLAGS, `${at}.flags`, 0, MAX_FLAGS),
        ...(alerts !== undefined ? { alerts } : {}),
        ...(hrReason !== undefined ? { hrReason } : {}),
      });
    }
    const record: RecordV1 = { schema: 1, frameSeq, firmwareVersion: fw, readings };
    if (m.has(RECORD_KEY_PPG)) record.ppg = decodePpg(m.get(RECORD_KEY_PPG) as CborValue);
    return { ok: true, record };
  } catch (e) {
    if (e instanceof RecordFailure) return { ok: false, error: e.error };
    return { ok: false, error: { code: "cbor", path: "", message: `decoder failure: ${String(e)}` } };
  }
}
