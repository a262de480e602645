import type { FrameLink, StandardCharacteristic } from "../../hal/contracts/link.js";
import type { Log } from "../../hal/contracts/log.js";
import type { Transport } from "../../protocol/command.js";

/** A link that can be switched on and off (Wi-Fi and the MQTT session cost energy when idle). */
export interface StartableLink extends FrameLink {
  start(): void;
  stop(): void;
}

/**
 * The device's uplink as the stored transport says ("transport" setting, changed by the signed
 * set-transport command): BLE, MQTT over Wi-Fi, or both (BLE while a central is connected, MQTT
 * otherwise). The switch takes effect at once: Wi-Fi is started or stopped, and a change of the
 * link in use is reported as a lost connection followed by a new one, so that the uplink sends
 * every unacknowledged message again on the new link (the gateway drops copies it stored).
 * Writes (commands, acknowledgements) are accepted from either link; standard characteristics
 * live on BLE only.
 */
export class TransportLink implements FrameLink {
  onWrite: ((payload: Uint8Array) => void) | null = null;
  onConnectionChange: ((connected: boolean) => void) | null = null;
  private mode: Transport = "ble";
  private active: FrameLink | null = null;
  private wifiRunning = false;

  constructor(
    readonly ble: FrameLink,
    readonly wifi: StartableLink | null,
    private readonly log: Log,
  ) {
    for (const l of wifi ? [ble, wifi] : [ble]) {
      l.onWrite = (p) => {
        if (this.onWrite) this.onWrite(p);
      };
      l.onConnectionChange = () => this.update();
    }
  }

  /** The transport in force. */
  get transport(): Transport {
    return this.mode;
  }

  /** The link frames go over now, or null when none is connected. */
  get current(): FrameLink | null {
    return this.active;
  }

  useTransport(transport: Transport): void {
    let t = transport;
    if (t !== "ble" && !this.wifi) {
      this.log.log("warn", `transport "${t}" needs Wi-Fi and an MQTT broker, which this build has no settings for; staying on BLE`);
      t = "ble";
    }
    this.mode = t;
    const wantWifi = t !== "ble";
    if (this.wifi && wantWifi && !this.wifiRunning) {
      this.wifiRunning = true;
      this.wifi.start();
    } else if (this.wifi && !wantWifi && this.wifiRunning) {
      this.wifiRunning = false;
      this.wifi.stop();
    }
    this.update();
  }

  get connected(): boolean {
    return this.pick() !== null;
  }

  get maxPayload(): number {
    const l = this.pick();
    return l ? l.maxPayload : this.ble.maxPayload;
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
    if (this.ble.publishCharacteristic) this.ble.publishCharacteristic(name, value);
  }

  private pick(): FrameLink | null {
    const wifi = this.wifi;
    switch (this.mode) {
      case "ble":
        return this.ble.connected ? this.ble : null;
      case "mqtt":
        return wifi && wifi.connected ? wifi : null;
      case "both":
        if (this.ble.connected) return this.ble;
        return wifi && wifi.connected ? wifi : null;
    }
  }

  private update(): void {
    const previous = this.active;
    const next = this.pick();
    this.active = next;
    if (!this.onConnectionChange) return;
    if (previous !== next && previous !== null) this.onConnectionChange(false);
    if (next !== null) this.onConnectionChange(true);
  }
}
