import type { FrameLink, StandardCharacteristic } from "../../hal/contracts/link.js";

/**
 * Two links as one, for the "both" transport: the preferred link (BLE: cheaper in energy) while
 * it is connected, else the fallback (MQTT over Wi-Fi). Writes from either reach `onWrite`; a
 * change of the active link is reported as a connection change, so that the uplink starts again
 * from the oldest unacknowledged message on the new one.
 */
export class FallbackLink implements FrameLink {
  onWrite: ((payload: Uint8Array) => void) | null = null;
  onConnectionChange: ((connected: boolean) => void) | null = null;
  private active: FrameLink | null = null;

  constructor(
    readonly preferred: FrameLink,
    readonly fallback: FrameLink,
  ) {
    for (const l of [preferred, fallback]) {
      l.onWrite = (p) => {
        if (this.onWrite) this.onWrite(p);
      };
      l.onConnectionChange = () => this.update();
    }
  }

  /** The link in use, or null when neither is connected. */
  get current(): FrameLink | null {
    return this.active;
  }

  get connected(): boolean {
    return this.preferred.connected || this.fallback.connected;
  }

  get maxPayload(): number {
    const l = this.pick();
    return l ? l.maxPayload : this.preferred.maxPayload;
  }

  notify(payload: Uint8Array): boolean {
    const l = this.pick();
    if (l !== this.active) {
      this.update();
      return false;
    }
    return l !== null && l.notify(payload);
  }

  /** Standard characteristics live on BLE only. */
  publishCharacteristic(name: StandardCharacteristic, value: Uint8Array): void {
    if (this.preferred.publishCharacteristic) this.preferred.publishCharacteristic(name, value);
  }

  private pick(): FrameLink | null {
    if (this.preferred.connected) return this.preferred;
    if (this.fallback.connected) return this.fallback;
    return null;
  }

  private update(): void {
    const previous = this.active;
    const next = this.pick();
    this.active = next;
    if (!this.onConnectionChange) return;
    // A switch between links is a lost connection followed by a new one; a callback of the same
    // link while connected means "room again".
    if (previous !== next && previous !== null) this.onConnectionChange(false);
    if (next !== null) this.onConnectionChange(true);
  }
}
