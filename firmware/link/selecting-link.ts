import type { FrameLink, StandardCharacteristic } from "../../hal/contracts/link.js";

/**
 * Several links as one: frames go over the link `pick` chooses (null: none is connected). Writes
 * from any link reach `onWrite`; a change of the link in use is reported as a lost connection
 * followed by a new one, so that the uplink sends every unacknowledged message again on the new
 * link; a callback of the same link while connected means "room again". Standard
 * characteristics live on the first link (BLE).
 */
export abstract class SelectingLink implements FrameLink {
  onWrite: ((payload: Uint8Array) => void) | null = null;
  onConnectionChange: ((connected: boolean) => void) | null = null;
  private active: FrameLink | null = null;

  constructor(private readonly links: readonly FrameLink[]) {
    for (const l of links) {
      l.onWrite = (p) => {
        if (this.onWrite) this.onWrite(p);
      };
      l.onConnectionChange = () => this.update();
    }
  }

  /** The link frames go over now, or null when none is connected. */
  get current(): FrameLink | null {
    return this.active;
  }

  get connected(): boolean {
    return this.pick() !== null;
  }

  get maxPayload(): number {
    const l = this.pick();
    return l ? l.maxPayload : this.links[0].maxPayload;
  }

  notify(payload: Uint8Array): boolean {
    const l = this.pick();
    if (l !== this.active) {
      this.update();
      return false;
    }
    return l !== null && l.notify(payload);
  }

  publishCharacteristic(name: StandardCharacteristic, value: Uint8Array): void {
    const first = this.links[0];
    if (first.publishCharacteristic) first.publishCharacteristic(name, value);
  }

  /** The link to use now, or null. */
  protected abstract pick(): FrameLink | null;

  protected update(): void {
    const previous = this.active;
    const next = this.pick();
    this.active = next;
    if (!this.onConnectionChange) return;
    if (previous !== next && previous !== null) this.onConnectionChange(false);
    if (next !== null) this.onConnectionChange(true);
  }
}
