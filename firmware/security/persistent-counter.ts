import type { PreferenceStore } from "../../hal/contracts/store.js";

/**
 * A counter that never hands out the same value twice, across reboots and power cuts.
 *
 * Values are reserved in blocks: before the first value of a block is used, the end of the
 * block is written to the store. After a reboot counting resumes at the stored end, so values
 * reserved but never used are skipped (a gap the receiver sees), never repeated. One store write
 * per `blockSize` values keeps flash wear low.
 */
export class PersistentCounter {
  private next: number;
  private reservedEnd: number;

  constructor(
    private readonly store: PreferenceStore,
    private readonly domain: string,
    private readonly key: string,
    private readonly blockSize: number,
    private readonly limit = 0x7fffffff,
  ) {
    const stored = store.get(domain, key);
    const start = typeof stored === "number" && Number.isInteger(stored) && stored >= 0 ? stored : 0;
    this.next = start;
    this.reservedEnd = start;
  }

  /** The value the next `take()` returns. */
  peek(): number {
    return this.next;
  }

  take(): number {
    if (this.next >= this.limit) throw new RangeError(`counter ${this.domain}/${this.key} exhausted`);
    if (this.next >= this.reservedEnd) {
      this.reservedEnd = Math.min(this.next + this.blockSize, this.limit);
      this.store.set(this.domain, this.key, this.reservedEnd);
    }
    return this.next++;
  }
}
