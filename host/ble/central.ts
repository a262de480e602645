/**
 * The host-side BLE central for the simulated link: pairs (bonding) when asked, reads and
 * subscribes to the standard services, reassembles frame notifications into link messages and
 * writes acknowledgements back, link-framed, as a phone or gateway app does.
 */
import type { SimBleCentral } from "../../hal/sim/ble-link.js";
import type { StandardCharacteristic } from "../../hal/contracts/link.js";
import { FragmentReassembler, fragmentMessage } from "../../protocol/link-framing.js";
import { decodeHeartRateMeasurement, decodeTemperatureMeasurement, type HeartRateMeasurement } from "../../protocol/gatt.js";
import type { Delivery, GatewayService } from "../gateway/service.js";

export interface StandardReadings {
  heartRate: HeartRateMeasurement | null;
  temperatureC: number | null;
}

export class BleCentral {
  private readonly reassembler = new FragmentReassembler();
  private writeNumber = 0;
  readonly standard: StandardReadings = { heartRate: null, temperatureC: null };
  /** Broken fragment sequences dropped (a disconnect in the middle of a message). */
  brokenMessages = 0;

  constructor(
    readonly link: SimBleCentral,
    private readonly service: GatewayService,
    private readonly source: string,
    private readonly onDelivery?: (d: Delivery) => void,
  ) {
    link.onNotify = (payload) => this.notified(payload);
    link.onCharacteristic = (name, value) => this.characteristic(name, value);
  }

  /** Pairs and subscribes to heart rate and temperature; false when the link refuses. */
  pairAndSubscribe(): boolean {
    if (!this.link.connected || !this.link.pair()) return false;
    const hr = this.link.subscribe("heart-rate");
    const temp = this.link.subscribe("temperature");
    // "no-value" only means nothing was measured yet.
    return (hr.ok || hr.error === "no-value") && (temp.ok || temp.error === "no-value");
  }

  private characteristic(name: StandardCharacteristic, value: Uint8Array): void {
    if (name === "heart-rate") {
      const r = decodeHeartRateMeasurement(value);
      if (r.ok) this.standard.heartRate = r.value;
    } else if (name === "temperature") {
      const r = decodeTemperatureMeasurement(value);
      if (r.ok) this.standard.temperatureC = r.value.celsius;
    }
  }

  private notified(payload: Uint8Array): void {
    const r = this.reassembler.push(payload);
    if (r.kind === "error") this.brokenMessages++;
    if (r.kind !== "message") return;
    const d = this.service.receive(this.source, r.message);
    this.onDelivery?.(d);
    if (d.ack) {
      // One fragment: an ack is 9 bytes, well under any ATT payload.
      this.link.write(fragmentMessage(d.ack, this.link.mtu - 3, this.writeNumber++)[0]);
    }
  }
}
