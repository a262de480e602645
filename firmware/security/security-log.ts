import type { Crypto } from "../../hal/contracts/crypto.js";
import type { PreferenceStore } from "../../hal/contracts/store.js";
import { CborWriter, bytesEqual, decodeCbor } from "../../protocol/cbor.js";

/** What other modules (command handler, update agent) need from the log: injected, never imported. */
export interface SecurityEvents {
  record(kind: string, detail: string): void;
}

/** Preference domain of the log; keys "head" and "e0" .. "e<capacity-1>". */
export const SECURITY_LOG_DOMAIN = "seclog";
export const SECURITY_LOG_CAPACITY = 32;
export const MAX_KIND_CHARS = 24;
export const MAX_DETAIL_CHARS = 96;
export const HASH_BYTES = 32;

/**
 * The security event log: a bounded ring of hash-chained entries in Preference (NVS).
 *
 * Entry n is the deterministic CBOR array [n, timeMs, kind, detail, prev] where `prev` is the
 * SHA-256 of entry n-1's encoded bytes (32 zero bytes for entry 0). The ring keeps the newest
 * `capacity` entries (slot "e<n mod capacity>"); key "head" holds BE32(next n) || SHA-256 of the
 * newest entry, written after the entry, so the chain survives wrap-around: the oldest retained
 * entry carries the hash of the one it replaced, and a verifier checks every retained link and the
 * head. Editing, removing or reordering a retained entry breaks a link or the head.
 *
 * A power cut between the entry write and the head write leaves an entry that the next boot
 * finds (its n equals the head's next and its prev equals the head hash) and adopts.
 */
export class SecurityLog implements SecurityEvents {
  private next = 0;
  private head: Uint8Array = new Uint8Array(HASH_BYTES);
  private readonly writer = new CborWriter(192);
  /** Entries recorded since boot (for the firmware status). */
  recorded = 0;

  constructor(
    private readonly store: PreferenceStore,
    private readonly crypto: Crypto,
    private readonly wallTime: () => number,
    readonly capacity = SECURITY_LOG_CAPACITY,
  ) {
    const h = store.get(SECURITY_LOG_DOMAIN, "head");
    if (h instanceof ArrayBuffer && h.byteLength === 4 + HASH_BYTES) {
      const b = new Uint8Array(h);
      this.next = ((b[0] << 24) >>> 0) + ((b[1] << 16) | (b[2] << 8) | b[3]);
      this.head = b.slice(4);
    }
    // Adopt an entry written just before a power cut (its head write was lost).
    const pending = this.slot(this.next);
    if (pending !== null) {
      const e = decodeLogEntry(pending);
      if (e !== null && e.seq === this.next && bytesEqual(e.prev, this.head)) this.commitHead(this.next + 1, crypto.sha256(pending));
    }
  }

  /** Sequence number the next entry gets (= number of entries ever recorded). */
  get nextSeq(): number {
    return this.next;
  }

  /** SHA-256 of the newest entry (32 zero bytes when empty). */
  get headHash(): Uint8Array {
    return this.head.slice();
  }

  record(kind: string, detail: string): void {
    const k = kind.length > MAX_KIND_CHARS ? kind.slice(0, MAX_KIND_CHARS) : kind;
    const d = detail.length > MAX_DETAIL_CHARS ? detail.slice(0, MAX_DETAIL_CHARS) : detail;
    const t = this.wallTime();
    const timeMs = Number.isFinite(t) && t >= 0 ? Math.floor(t) : 0;
    const entry = this.writer.reset().arrayHeader(5).int(this.next).int(timeMs).text(k).text(d).bytes(this.head).toBytes();
    try {
      this.store.set(SECURITY_LOG_DOMAIN, `e${this.next % this.capacity}`, entry.buffer as ArrayBuffer);
      this.commitHead(this.next + 1, this.crypto.sha256(entry));
      this.recorded++;
    } catch {
      // A full or failing store must not stop the caller; the entry is lost and the chain intact.
    }
  }

  /**
   * Up to `count` retained entries (and about `maxBytes` of them) from sequence number `from`
   * (clamped to the oldest retained), oldest first, as their stored bytes.
   */
  read(from: number, count: number, maxBytes = 3000): { entries: Uint8Array[]; next: number; head: Uint8Array } {
    const oldest = Math.max(0, this.next - this.capacity);
    const entries: Uint8Array[] = [];
    let bytes = 0;
    for (let n = Math.max(from, oldest); n < this.next && entries.length < count; n++) {
      const b = this.slot(n);
      if (b === null) break;
      bytes += b.length;
      if (bytes > maxBytes && entries.length > 0) break;
      entries.push(b);
    }
    return { entries, next: this.next, head: this.head.slice() };
  }

  private slot(n: number): Uint8Array | null {
    const v = this.store.get(SECURITY_LOG_DOMAIN, `e${n % this.capacity}`);
    return v instanceof ArrayBuffer ? new Uint8Array(v) : null;
  }

  private commitHead(next: number, hash: Uint8Array): void {
    const b = new Uint8Array(4 + HASH_BYTES);
    b[0] = (next >>> 24) & 0xff;
    b[1] = (next >>> 16) & 0xff;
    b[2] = (next >>> 8) & 0xff;
    b[3] = next & 0xff;
    b.set(hash, 4);
    this.store.set(SECURITY_LOG_DOMAIN, "head", b.buffer as ArrayBuffer);
    this.next = next;
    this.head = hash;
  }
}

export interface LogEntry {
  seq: number;
  timeMs: number;
  kind: string;
  detail: string;
  prev: Uint8Array;
}

/** Decodes one stored entry; null when it is not the 5-item array. Never throws. */
export function decodeLogEntry(bytes: Uint8Array): LogEntry | null {
  const d = decodeCbor(bytes, { maxDepth: 1 });
  if (!d.ok || !Array.isArray(d.value) || d.value.length !== 5) return null;
  const [seq, timeMs, kind, detail, prev] = d.value;
  if (typeof seq !== "number" || !Number.isInteger(seq) || seq < 0) return null;
  if (typeof timeMs !== "number" || !Number.isInteger(timeMs) || timeMs < 0) return null;
  if (typeof kind !== "string" || typeof detail !== "string") return null;
  if (!(prev instanceof Uint8Array) || prev.length !== HASH_BYTES) return null;
  return { seq, timeMs, kind, detail, prev };
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
