import type { FrameLink } from "../../hal/contracts/link.js";
import { fragmentMessage } from "../../protocol/link-framing.js";

/**
 * Sends sealed messages over the link, split to its payload limit, in order.
 *
 * Messages wait in a bounded in-memory outbox while the link is down or busy; when the outbox is
 * full the oldest message is dropped and counted (the durable flash queue replaces this policy).
 */
export class Uplink {
  private readonly outbox: Uint8Array[] = [];
  private readonly essential = new WeakSet<Uint8Array>();
  private current: Uint8Array | null = null;
  private fragments: Uint8Array[] = [];
  private fragmentIndex = 0;
  private messageNumber = 0;
  dropped = 0;
  sent = 0;

  constructor(
    private readonly link: FrameLink,
    private readonly capacity: number,
  ) {}

  get depth(): number {
    return this.outbox.length + (this.current !== null ? 1 : 0);
  }

  /**
   * Queues a message. `essential` messages (epoch announcements, without which the frames of an
   * epoch cannot be read) are never dropped for room; the oldest other message is.
   */
  enqueue(message: Uint8Array, essential = false): void {
    if (this.outbox.length >= this.capacity) {
      const victim = this.outbox.findIndex((m) => !this.essential.has(m));
      if (victim >= 0) {
        this.outbox.splice(victim, 1);
        this.dropped++;
      }
    }
    if (essential) this.essential.add(message);
    this.outbox.push(message);
    this.pump();
  }

  /** Sends as many fragments as the link takes now; call again when the link has room. */
  pump(): void {
    while (this.link.connected) {
      if (this.current === null) {
        const next = this.outbox.shift();
        if (!next) return;
        this.current = next;
        this.fragments = fragmentMessage(next, this.link.maxPayload, this.messageNumber++);
        this.fragmentIndex = 0;
      }
      if (!this.link.notify(this.fragments[this.fragmentIndex])) return;
      this.fragmentIndex++;
      if (this.fragmentIndex >= this.fragments.length) {
        this.current = null;
        this.sent++;
      }
    }
    // A connection lost mid-message sends that message again, whole, on the next connection
    // (whose payload limit may differ).
    if (this.current !== null) {
      this.outbox.unshift(this.current);
      this.current = null;
    }
  }
}
