import type { Crypto } from "../../hal/contracts/crypto.js";
import type { PreferenceStore } from "../../hal/contracts/store.js";
import { bytesEqual } from "../../protocol/bytes.js";
import { CborWriter } from "../../protocol/cbor.js";
import { HASH_BYTES, decodeLogEntry, encodeLogEntry, type LogSummary } from "../../protocol/security-log.js";
import { SECURITY_LOG_DOMAIN, SECURITY_LOG_KEYS } from "../../protocol/settings.js";

/** What other modules (command handler, update agent) need from the log: injected, never imported. */
export interface SecurityEvents {
  /** Records one event, or `count` events of the same kind at once (e.g. commands dropped by a rate limit). */
  record(kind: string, detail: string, count?: number): void;
}

/** Entries the ring keeps (Preference domain "seclog": key "head" and one key per slot, protocol/settings.ts). */
export const SECURITY_LOG_CAPACITY = 32;
export const MAX_KIND_CHARS = 24;
export const MAX_DETAIL_CHARS = 96;

/**
 * Kinds an outsider can repeat at will (rejections): they are summarised, and the newest entry of
 * each is never evicted (it is carried forward), so a flood cannot wipe the evidence of it.
 */
export const SUMMARISED_KINDS: readonly string[] = ["auth-failure", "command-rejected", "command-replay", "provisioning-rejected", "rate-limited"];
/**
 * Summary window per kind: the first event of a summarised kind is written at once and opens a
 * window; later events of that kind within the window are counted in RAM and written as one
 * summary entry when the window ends (at the next record after it), or when the log is read.
 */
export const SUMMARY_WINDOW_MS = 3_600_000;

export function isSummarisedKind(kind: string): boolean {
  return SUMMARISED_KINDS.indexOf(kind) >= 0;
}

interface SummaryWindow {
  startTicks: number;
  /** Events counted since the last written entry of the kind (0: nothing pending). */
  count: number;
  firstMs: number;
  lastMs: number;
  detail: string;
  total: number;
}

/**
 * The security event log: a bounded ring of hash-chained entries in Preference (NVS).
 *
 * Entry n is the deterministic CBOR array [n, timeMs, kind, detail, prev] (or, for a summarised
 * kind, [n, timeMs, kind, detail, prev, [count, firstMs, total(, carriedFrom)]]) where `prev` is
 * the SHA-256 of entry n-1's encoded bytes (32 zero bytes for entry 0). The ring keeps the newest
 * `capacity` entries (slot "e<n mod capacity>"); key "head" holds BE32(next n) || SHA-256 of the
 * newest entry, written after the entry, so the chain survives wrap-around: the oldest retained
 * entry carries the hash of the one it replaced, and a verifier checks every retained link and the
 * head. Editing, removing or reordering a retained entry breaks a link or the head.
 *
 * Floods: repeated events of a summarised kind cost one NVS entry per kind per window (plus one
 * summary), not one per event; and when the slot about to be overwritten holds the newest entry of
 * a summarised kind, that entry is first written again as a new entry (same content, `carriedFrom`
 * set), so the newest evidence of each such kind, with its running total, stays in the ring. The
 * chain stays one run of consecutive entries: nothing changes for a verifier.
 *
 * A power cut between the entry write and the head write leaves an entry that the next boot
 * finds (its n equals the head's next and its prev equals the head hash) and adopts. Counts still
 * pending in RAM (at most one window per kind) are lost by a reboot; the first event of the window
 * is already written.
 */
export class SecurityLog implements SecurityEvents {
  private next = 0;
  private head: Uint8Array = new Uint8Array(HASH_BYTES);
  private readonly writer = new CborWriter(224);
  /** Kind of the entry in each slot (null: empty or unreadable). */
  private readonly slotKinds: (string | null)[];
  /** Sequence number of the newest retained entry of each summarised kind. */
  private readonly newest = new Map<string, number>();
  /** Running totals per summarised kind. */
  private readonly totals = new Map<string, number>();
  private readonly windows = new Map<string, SummaryWindow>();
  private readonly ticks: () => number;
  /** Entries written since boot (for the firmware status). */
  recorded = 0;

  constructor(
    private readonly store: PreferenceStore,
    private readonly crypto: Crypto,
    private readonly wallTime: () => number,
    readonly capacity = SECURITY_LOG_CAPACITY,
    ticks?: () => number,
    readonly windowMs = SUMMARY_WINDOW_MS,
  ) {
    this.ticks = ticks ?? (() => this.timeNow());
    this.slotKinds = new Array<string | null>(capacity).fill(null);
    const h = store.get(SECURITY_LOG_DOMAIN, SECURITY_LOG_KEYS.head);
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
    // What the retained entries say: slot kinds, newest entry and running total of each summarised kind.
    for (let n = Math.max(0, this.next - capacity); n < this.next; n++) {
      const b = this.slot(n);
      const e = b === null ? null : decodeLogEntry(b);
      if (e === null || e.seq !== n) continue;
      this.slotKinds[n % capacity] = e.kind;
      if (!isSummarisedKind(e.kind)) continue;
      this.newest.set(e.kind, n);
      this.totals.set(e.kind, e.summary ? e.summary.total : (this.totals.get(e.kind) ?? 0) + 1);
    }
  }

  /** Sequence number the next entry gets (= number of entries ever written). */
  get nextSeq(): number {
    return this.next;
  }

  /** SHA-256 of the newest entry (32 zero bytes when empty). */
  get headHash(): Uint8Array {
    return this.head.slice();
  }

  /** Events of a summarised kind recorded in all (written or still pending). */
  total(kind: string): number {
    return this.totals.get(kind) ?? 0;
  }

  /** Events of a kind counted in RAM, not written yet. */
  pending(kind: string): number {
    const w = this.windows.get(kind);
    return w === undefined ? 0 : w.count;
  }

  record(kind: string, detail: string, count = 1): void {
    const k = kind.length > MAX_KIND_CHARS ? kind.slice(0, MAX_KIND_CHARS) : kind;
    const d = detail.length > MAX_DETAIL_CHARS ? detail.slice(0, MAX_DETAIL_CHARS) : detail;
    const n = Number.isInteger(count) && count >= 1 ? count : 1;
    const timeMs = this.timeNow();
    const t = this.ticks();
    try {
      this.flushWindows(t, false);
      if (!isSummarisedKind(k)) {
        this.append(k, d, timeMs, null);
        return;
      }
      const total = (this.totals.get(k) ?? 0) + n;
      this.totals.set(k, total);
      const w = this.windows.get(k);
      if (w !== undefined) {
        if (w.count === 0) w.firstMs = timeMs;
        w.count += n;
        w.lastMs = timeMs;
        w.detail = d;
        w.total = total;
        return;
      }
      this.append(k, d, timeMs, { count: n, firstMs: timeMs, total });
      this.windows.set(k, { startTicks: t, count: 0, firstMs: 0, lastMs: 0, detail: "", total });
    } catch {
      // A full or failing store must not stop the caller; the entry is lost and the chain intact.
    }
  }

  /** Writes every count still pending in RAM as a summary entry (windows stay open). Never throws. */
  flush(): void {
    try {
      this.flushWindows(this.ticks(), true);
    } catch {
      // As in record: the counts stay pending.
    }
  }

  /**
   * Up to `count` retained entries (and about `maxBytes` of them) from sequence number `from`
   * (clamped to the oldest retained), oldest first, as their stored bytes. Pending summaries are
   * written first, so the reader sees every event.
   */
  read(from: number, count: number, maxBytes = 3000): { entries: Uint8Array[]; next: number; head: Uint8Array } {
    this.flush();
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

  private timeNow(): number {
    const t = this.wallTime();
    return Number.isFinite(t) && t >= 0 ? Math.floor(t) : 0;
  }

  private flushWindows(t: number, force: boolean): void {
    for (const [kind, w] of this.windows) {
      const ended = t - w.startTicks >= this.windowMs || t < w.startTicks;
      if (w.count > 0 && (ended || force)) {
        this.append(kind, w.detail, w.lastMs, { count: w.count, firstMs: w.firstMs, total: w.total });
        w.count = 0;
      }
      if (ended) this.windows.delete(kind);
    }
  }

  private append(kind: string, detail: string, timeMs: number, summary: LogSummary | null): void {
    this.carryForward(kind);
    this.write(kind, detail, timeMs, summary);
  }

  /**
   * Before the slot of the oldest entry is reused: when it holds the newest entry of a summarised
   * kind (other than the kind being appended, whose new entry supersedes it), write it again as a
   * new entry. Each kind is carried at most once per append, so this ends.
   */
  private carryForward(appending: string): void {
    for (let guard = 0; guard < this.capacity && this.next >= this.capacity; guard++) {
      const evicted = this.next - this.capacity;
      const kind = this.slotKinds[this.next % this.capacity];
      if (kind === null || kind === appending || !isSummarisedKind(kind) || this.newest.get(kind) !== evicted) return;
      const b = this.slot(evicted);
      const e = b === null ? null : decodeLogEntry(b);
      if (e === null || e.seq !== evicted) return;
      const s = e.summary ?? { count: 1, firstMs: e.timeMs, total: this.totals.get(kind) ?? 1 };
      this.write(e.kind, e.detail, e.timeMs, { count: s.count, firstMs: s.firstMs, total: s.total, carriedFrom: s.carriedFrom ?? e.seq });
    }
  }

  private write(kind: string, detail: string, timeMs: number, summary: LogSummary | null): void {
    const entry = encodeLogEntry({ seq: this.next, timeMs, kind, detail, prev: this.head, ...(summary === null ? {} : { summary }) }, this.writer);
    const seq = this.next;
    this.store.set(SECURITY_LOG_DOMAIN, SECURITY_LOG_KEYS.slot(seq % this.capacity), entry.buffer as ArrayBuffer);
    this.commitHead(seq + 1, this.crypto.sha256(entry));
    this.slotKinds[seq % this.capacity] = kind;
    if (isSummarisedKind(kind)) this.newest.set(kind, seq);
    this.recorded++;
  }

  private slot(n: number): Uint8Array | null {
    const v = this.store.get(SECURITY_LOG_DOMAIN, SECURITY_LOG_KEYS.slot(n % this.capacity));
    return v instanceof ArrayBuffer ? new Uint8Array(v) : null;
  }

  private commitHead(next: number, hash: Uint8Array): void {
    const b = new Uint8Array(4 + HASH_BYTES);
    b[0] = (next >>> 24) & 0xff;
    b[1] = (next >>> 16) & 0xff;
    b[2] = (next >>> 8) & 0xff;
    b[3] = next & 0xff;
    b.set(hash, 4);
    this.store.set(SECURITY_LOG_DOMAIN, SECURITY_LOG_KEYS.head, b.buffer as ArrayBuffer);
    this.next = next;
    this.head = hash;
  }
}
