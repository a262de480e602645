import type { FrameLink } from "../../hal/contracts/link.js";
import { SelectingLink } from "./selecting-link.js";
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
export class TransportLink extends SelectingLink {
  private mode: Transport = "ble";
  private wifiRunning = false;

  constructor(
    readonly ble: FrameLink,
    readonly wifi: StartableLink | null,
    private readonly log: Log,
  ) {
    super(wifi ? [ble, wifi] : [ble]);
  }

  /** The transport in force. */
  get transport(): Transport {
    return this.mode;
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

  /**
   * The firmware that used the link is gone (a reboot): Wi-Fi and the MQTT session stop, without
   * a DISCONNECT, until the next firmware's `useTransport` asks for them.
   */
  stop(): void {
    if (this.wifi && this.wifiRunning) this.wifi.stop();
    this.wifiRunning = false;
    this.update();
  }

  protected pick(): FrameLink | null {
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
}
