/**
 * Entries of the device's security event log (docs/protocol.md section 15): how each is encoded,
 * and how a reader (the maintainer's read-security-log command, the host's CLI) checks a run of
 * them. The log itself, a ring in Preference, is firmware/security/security-log.ts.
 *
 * Entry n is the deterministic CBOR array [n, timeMs, kind, detail, prev] (or, for a summarised
 * kind, [n, timeMs, kind, detail, prev, [count, firstMs, total(, carriedFrom)]]) where `prev` is
 * the SHA-256 of entry n-1's encoded bytes (32 zero bytes for entry 0).
 */
import { bytesEqual } from "./bytes.js";
import { CborWriter, decodeCbor } from "./cbor.js";

export const HASH_BYTES = 32;

/** The 6th item of an entry of a summarised kind (docs/protocol.md section 15). */
export interface LogSummary {
  /** Events this entry stands for (>= 1), the last of them at the entry's timeMs. */
  count: number;
  /** Wall time of the first of them. */
  firstMs: number;
  /** Events of this kind the log has recorded in all, this entry's included. */
  total: number;
  /** Set on a copy carried forward: sequence number of the entry first written with this content. */
  carriedFrom?: number;
}

export interface LogEntry {
  seq: number;
  timeMs: number;
  kind: string;
  detail: string;
  prev: Uint8Array;
  /** Present on entries of summarised kinds (6-item entries). */
  summary?: LogSummary;
}

/** The entry's bytes; `writer` (reset first) may be reused to save allocations. */
export function encodeLogEntry(e: LogEntry, writer: CborWriter = new CborWriter(224)): Uint8Array {
  const s = e.summary;
  const w = writer.reset().arrayHeader(s === undefined ? 5 : 6).int(e.seq).int(e.timeMs).text(e.kind).text(e.detail).bytes(e.prev);
  if (s !== undefined) {
    w.arrayHeader(s.carriedFrom === undefined ? 3 : 4).int(s.count).int(s.firstMs).int(s.total);
    if (s.carriedFrom !== undefined) w.int(s.carriedFrom);
  }
  return w.toBytes();
}

function isUint(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

/** Decodes one stored entry; null when it is not a 5-item array or a 6-item one with a valid summary. Never throws. */
export function decodeLogEntry(bytes: Uint8Array): LogEntry | null {
  const d = decodeCbor(bytes, { maxDepth: 2 });
  if (!d.ok || !Array.isArray(d.value) || (d.value.length !== 5 && d.value.length !== 6)) return null;
  const [seq, timeMs, kind, detail, prev, summary] = d.value;
  if (!isUint(seq) || !isUint(timeMs)) return null;
  if (typeof kind !== "string" || typeof detail !== "string") return null;
  if (!(prev instanceof Uint8Array) || prev.length !== HASH_BYTES) return null;
  if (d.value.length === 5) return { seq, timeMs, kind, detail, prev };
  if (!Array.isArray(summary) || (summary.length !== 3 && summary.length !== 4)) return null;
  const [count, firstMs, total, carriedFrom] = summary;
  if (!isUint(count) || count < 1 || !isUint(firstMs) || !isUint(total) || total < count) return null;
  if (summary.length === 3) return { seq, timeMs, kind, detail, prev, summary: { count, firstMs, total } };
  if (!isUint(carriedFrom) || carriedFrom >= seq) return null;
  return { seq, timeMs, kind, detail, prev, summary: { count, firstMs, total, carriedFrom } };
}

export type ChainCheck =
  | { ok: true; entries: LogEntry[] }
  | { ok: false; index: number; problem: string };

/**
 * Checks a run of consecutive entries (as returned by `read`): each decodes, sequence numbers
 * follow each other, each entry's `prev` is the SHA-256 of the entry before it, and the last
 * entry hashes to `head` when the run reaches the log's `next`. The first entry's own `prev` is
 * trusted (it links to an entry no longer retained, or is zero for entry 0).
 */
export function verifyLogChain(
  sha256: (data: Uint8Array) => Uint8Array,
  entries: readonly Uint8Array[],
  head?: { next: number; hash: Uint8Array },
): ChainCheck {
  const out: LogEntry[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = decodeLogEntry(entries[i]);
    if (e === null) return { ok: false, index: i, problem: "entry does not decode" };
    if (i === 0 && e.seq === 0 && !e.prev.every((x) => x === 0)) return { ok: false, index: 0, problem: "entry 0 must link to zero" };
    if (i > 0) {
      if (e.seq !== out[i - 1].seq + 1) return { ok: false, index: i, problem: `sequence ${e.seq} does not follow ${out[i - 1].seq}` };
      if (!bytesEqual(e.prev, sha256(entries[i - 1]))) return { ok: false, index: i, problem: "link to the previous entry broken" };
    }
    out.push(e);
  }
  if (head !== undefined && out.length > 0 && out[out.length - 1].seq + 1 === head.next) {
    if (!bytesEqual(sha256(entries[entries.length - 1]), head.hash)) return { ok: false, index: entries.length - 1, problem: "newest entry does not match the head hash" };
  }
  return { ok: true, entries: out };
}
