/**
 * Recordings on disk: a PPG CSV, its reference CSV and, beside them, an optional JSON description
 * (`<name>.json`: sampleRateHz, accelerometer units, subject, ...), and folders of recordings in
 * the dataset layout (`<name>.ppg.csv`, `<name>.ref.csv`, `<name>.json`). Errors are
 * `LabInputError`s whose message is the one line the user sees.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { accelUnitsFromMeta, parsePpgCsv, parseReferenceCsv, type AccelUnits, type PpgRecording, type ReferenceSeries } from "./csv.js";

export class LabInputError extends Error {}

export interface RecordingMeta {
  sampleRateHz?: number;
  subject?: string | number;
  canonicalSpc2015Training12?: boolean;
  [key: string]: unknown;
}

/** The JSON description beside a PPG file in the dataset layout: `x.ppg.csv` -> `x.json` (null for other names). */
export function metaPathFor(ppgPath: string): string | null {
  const m = /^(.+)\.ppg\.csv$/i.exec(basename(ppgPath));
  return m ? join(dirname(ppgPath), `${m[1]}.json`) : null;
}

export function readMeta(ppgPath: string, who: string): { meta: RecordingMeta | null; path: string | null } {
  const path = metaPathFor(ppgPath);
  if (path === null || !existsSync(path)) return { meta: null, path };
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new LabInputError(`${who}: ${path} is not valid JSON (${e instanceof Error ? e.message : e}); fix or remove it`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new LabInputError(`${who}: ${path} must hold a JSON object describing the recording`);
  return { meta: value as RecordingMeta, path };
}

function readText(path: string, what: string, who: string): string {
  if (!existsSync(path)) throw new LabInputError(`${who}: ${what} file ${path} not found`);
  if (statSync(path).isDirectory()) throw new LabInputError(`${who}: ${what} file ${path} is a folder, not a CSV file`);
  return readFileSync(path, "utf8");
}

export interface LoadedRecording {
  rec: PpgRecording;
  meta: RecordingMeta | null;
  /** Units the accelerometer was converted from (null without accelerometer columns). */
  accelUnits: AccelUnits | null;
  /** Where the units came from. */
  accelUnitsFrom: "flag" | "json" | "default" | null;
  warnings: string[];
}

/**
 * Reads and parses a PPG file. The accelerometer's units: `accelUnits` (the flag) if given, else
 * the JSON description's, else g (with a warning).
 */
export function loadPpg(ppgPath: string, who: string, opts: { accelUnits?: AccelUnits; channel?: number } = {}): LoadedRecording {
  const text = readText(ppgPath, "PPG", who);
  const { meta, path: metaPath } = readMeta(ppgPath, who);
  const warnings: string[] = [];
  let units: AccelUnits | undefined = opts.accelUnits;
  let from: LoadedRecording["accelUnitsFrom"] = units ? "flag" : null;
  let unrecognised: string | null = null;
  if (!units && meta) {
    const u = accelUnitsFromMeta(meta);
    if (u && typeof u === "object") unrecognised = u.unrecognised;
    else if (u) {
      units = u;
      from = "json";
    }
  }
  const parsed = parsePpgCsv(text, { accelUnits: units ?? "g", channel: opts.channel });
  if (!parsed.ok) throw new LabInputError(`${who}: ${ppgPath} line ${parsed.line}: ${parsed.message} (docs/lab.md describes the formats)`);
  const rec = parsed.value;
  if (rec.accel && unrecognised !== null) {
    throw new LabInputError(`${who}: cannot tell the accelerometer units from ${metaPath} ("${unrecognised.slice(0, 60)}"): give --accel-units g|mg|ms2|raw4096`);
  }
  if (rec.accel && !units) {
    from = "default";
    if (rec.format === "dataset") warnings.push(`${ppgPath}: accelerometer units not given (no --accel-units, ${metaPath ? `no units in ${basename(metaPath)}` : "no <name>.json beside a <name>.ppg.csv"}): taking g`);
  }
  if (rec.ignoredColumns.length) warnings.push(`${ppgPath}: columns ignored: ${rec.ignoredColumns.join(", ")}`);
  return { rec, meta, accelUnits: rec.accel ? (units ?? "g") : null, accelUnitsFrom: rec.accel ? from : null, warnings };
}

export function loadReference(refPath: string, who: string): ReferenceSeries {
  const parsed = parseReferenceCsv(readText(refPath, "reference", who));
  if (!parsed.ok) throw new LabInputError(`${who}: ${refPath} line ${parsed.line}: ${parsed.message} (docs/lab.md describes the formats)`);
  return parsed.value;
}

export interface RecordingFiles {
  dataset: string;
  name: string;
  ppg: string;
  ref: string;
}

export interface DatasetFolder {
  name: string;
  dir: string;
  recordings: RecordingFiles[];
}

function recordingsIn(dir: string, dataset: string, warnings: string[]): RecordingFiles[] {
  const out: RecordingFiles[] = [];
  for (const f of readdirSync(dir).sort()) {
    const m = /^(.+)\.ppg\.csv$/i.exec(f);
    if (!m) continue;
    const ref = join(dir, `${m[1]}.ref.csv`);
    if (!existsSync(ref)) {
      warnings.push(`${join(dir, f)} has no reference ${basename(ref)}: left out`);
      continue;
    }
    out.push({ dataset, name: m[1], ppg: join(dir, f), ref });
  }
  return out;
}

/**
 * The datasets of a benchmark folder: its own recordings (a dataset named after the folder) and
 * every subfolder with recordings (a dataset each; names starting with "." or "_" are skipped).
 */
export function findDatasets(dir: string, who: string): { datasets: DatasetFolder[]; warnings: string[] } {
  if (!existsSync(dir)) throw new LabInputError(`${who}: folder ${dir} not found`);
  if (!statSync(dir).isDirectory()) throw new LabInputError(`${who}: ${dir} is a file, not a folder of recordings`);
  const warnings: string[] = [];
  const datasets: DatasetFolder[] = [];
  const own = recordingsIn(dir, basename(dir.replace(/\/+$/, "")) || dir, warnings);
  if (own.length) datasets.push({ name: own[0].dataset, dir, recordings: own });
  for (const sub of readdirSync(dir).sort()) {
    if (sub.startsWith(".") || sub.startsWith("_")) continue;
    const p = join(dir, sub);
    if (!statSync(p).isDirectory()) continue;
    const recs = recordingsIn(p, sub, warnings);
    if (recs.length) datasets.push({ name: sub, dir: p, recordings: recs });
  }
  if (datasets.length === 0) throw new LabInputError(`${who}: no recordings in ${dir}: expected <name>.ppg.csv with <name>.ref.csv (docs/lab.md), in the folder or its subfolders`);
  return { datasets, warnings };
}
