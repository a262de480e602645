/**
 * The device's transport switch (firmware/link/transport-link.ts) over two scripted links: frames
 * over BLE, MQTT or both as the stored transport says, a switch reported as a lost connection and
 * a new one, Wi-Fi started and stopped with it, BLE when the build has no Wi-Fi, and writes
 * accepted from either link. Portable: runs on Node and inside XS.
 */
import { assert, assertEqual, suite, test } from "./harness.js";
import { TransportLink, type StartableLink } from "../../firmware/link/transport-link.js";
import type { StandardCharacteristic } from "../../hal/contracts/link.js";
import type { LogLevel } from "../../hal/contracts/log.js";

class ScriptedLink implements StartableLink {
  connected = false;
  onWrite: ((payload: Uint8Array) => void) | null = null;
  onConnectionChange: ((connected: boolean) => void) | null = null;
  readonly sent: Uint8Array[] = [];
  readonly published: { name: StandardCharacteristic; value: Uint8Array }[] = [];
  starts = 0;
  stops = 0;

  constructor(
    readonly name: string,
    readonly maxPayload: number,
  ) {}

  notify(payload: Uint8Array): boolean {
    if (!this.connected) return false;
    this.sent.push(payload);
    return true;
  }

  publishCharacteristic(name: StandardCharacteristic, value: Uint8Array): void {
    this.published.push({ name, value });
  }

  start(): void {
    this.starts++;
  }

  stop(): void {
    this.stops++;
  }

  /** The radio connects or drops, and says so. */
  set(connected: boolean): void {
    this.connected = connected;
    if (this.onConnectionChange) this.onConnectionChange(connected);
  }

  /** A write from the central or the broker. */
  write(payload: Uint8Array): void {
    if (this.onWrite) this.onWrite(payload);
  }
}

interface Rig {
  link: TransportLink;
  ble: ScriptedLink;
  mqtt: ScriptedLink;
  events: boolean[];
  writes: Uint8Array[];
  logs: { level: LogLevel; message: string }[];
}

function rig(withWifi = true): Rig {
  const ble = new ScriptedLink("ble", 244);
  const mqtt = new ScriptedLink("mqtt", 1024);
  const logs: { level: LogLevel; message: string }[] = [];
  const link = new TransportLink(ble, withWifi ? mqtt : null, { log: (level, message) => logs.push({ level, message }) });
  const events: boolean[] = [];
  const writes: Uint8Array[] = [];
  link.onConnectionChange = (c) => events.push(c);
  link.onWrite = (p) => writes.push(p);
  return { link, ble, mqtt, events, writes, logs };
}

const frame = (n: number) => new Uint8Array([n, n + 1, n + 2]);

/** Connection events with repeats collapsed (a repeated true only means "room again"). */
function transitions(events: boolean[]): boolean[] {
  return events.filter((e, i) => i === 0 || e !== events[i - 1]);
}

suite("transport link", () => {
  test("ble: frames go over BLE only, and Wi-Fi is not started", () => {
    const r = rig();
    r.link.useTransport("ble");
    assertEqual(r.mqtt.starts, 0);
    r.mqtt.set(true);
    assertEqual(r.link.connected, false, "MQTT does not count under ble");
    assertEqual(r.link.notify(frame(1)), false);
    assertEqual(r.events, []);
    r.ble.set(true);
    assertEqual(r.events, [true]);
    assert(r.link.current === r.ble, "frames over BLE");
    assertEqual(r.link.maxPayload, 244);
    assert(r.link.notify(frame(2)), "notify over BLE");
    assertEqual(r.ble.sent, [frame(2)]);
    assertEqual(r.mqtt.sent, []);
    r.ble.set(false);
    assertEqual(r.events, [true, false]);
    assertEqual(r.link.connected, false);
  });

  test("mqtt: frames go over MQTT only, Wi-Fi started once", () => {
    const r = rig();
    r.link.useTransport("mqtt");
    assertEqual(r.mqtt.starts, 1);
    r.link.useTransport("mqtt");
    assertEqual(r.mqtt.starts, 1, "started again");
    r.ble.set(true);
    assertEqual(r.link.connected, false, "BLE does not count under mqtt");
    assertEqual(r.link.notify(frame(1)), false);
    r.mqtt.set(true);
    assert(r.link.current === r.mqtt, "frames over MQTT");
    assertEqual(r.link.maxPayload, 1024);
    assert(r.link.notify(frame(2)), "notify over MQTT");
    assertEqual(r.mqtt.sent, [frame(2)]);
    assertEqual(r.ble.sent, []);
    assertEqual(r.events[r.events.length - 1], true);
    assertEqual(r.events.indexOf(false), -1, "no disconnect reported");
  });

  test("both: BLE while a central is connected, MQTT otherwise", () => {
    const r = rig();
    r.link.useTransport("both");
    assertEqual(r.mqtt.starts, 1);
    r.mqtt.set(true);
    assert(r.link.current === r.mqtt, "frames over MQTT");
    assert(r.link.notify(frame(1)), "over MQTT");
    r.ble.set(true);
    assert(r.link.current === r.ble, "frames over BLE");
    assert(r.link.notify(frame(2)), "over BLE");
    r.ble.set(false);
    assert(r.link.current === r.mqtt, "frames over MQTT");
    assert(r.link.notify(frame(3)), "over MQTT again");
    assertEqual(r.mqtt.sent, [frame(1), frame(3)]);
    assertEqual(r.ble.sent, [frame(2)]);
    // Each change of the link in use is a disconnect followed by a connect.
    assertEqual(r.events, [true, false, true, false, true]);
  });

  test("switching transports reports a disconnect then a connect, and takes effect at once", () => {
    const r = rig();
    r.link.useTransport("ble");
    r.ble.set(true);
    r.mqtt.set(true);
    assertEqual(transitions(r.events), [true]);
    r.link.useTransport("mqtt");
    assertEqual(transitions(r.events), [true, false, true]);
    assertEqual(r.link.transport, "mqtt");
    assert(r.link.current === r.mqtt, "frames over MQTT");
    assert(r.link.notify(frame(1)), "over MQTT after the switch");
    r.link.useTransport("ble");
    assertEqual(transitions(r.events), [true, false, true, false, true]);
    assert(r.link.current === r.ble, "frames over BLE");
    assert(r.link.notify(frame(2)), "over BLE after the switch back");
    assertEqual(r.mqtt.sent, [frame(1)]);
    assertEqual(r.ble.sent, [frame(2)]);
  });

  test("switching to a transport with nothing connected reports only the loss", () => {
    const r = rig();
    r.link.useTransport("ble");
    r.ble.set(true);
    r.link.useTransport("mqtt");
    assertEqual(r.events, [true, false]);
    assertEqual(r.link.connected, false);
    assertEqual(r.link.notify(frame(1)), false);
  });

  test("Wi-Fi is started for mqtt and both, and stopped for ble", () => {
    const r = rig();
    r.link.useTransport("ble");
    assertEqual([r.mqtt.starts, r.mqtt.stops], [0, 0]);
    r.link.useTransport("both");
    assertEqual([r.mqtt.starts, r.mqtt.stops], [1, 0]);
    r.link.useTransport("mqtt");
    assertEqual([r.mqtt.starts, r.mqtt.stops], [1, 0]);
    r.link.useTransport("ble");
    assertEqual([r.mqtt.starts, r.mqtt.stops], [1, 1]);
    r.link.useTransport("ble");
    assertEqual([r.mqtt.starts, r.mqtt.stops], [1, 1]);
    r.link.useTransport("mqtt");
    assertEqual([r.mqtt.starts, r.mqtt.stops], [2, 1]);
  });

  test('"mqtt" without a Wi-Fi link falls back to BLE with a warning', () => {
    const r = rig(false);
    r.ble.set(true);
    r.link.useTransport("mqtt");
    assertEqual(r.link.transport, "ble");
    assert(r.link.current === r.ble, "frames over BLE");
    assert(r.logs.some((l) => l.level === "warn" && l.message.indexOf("staying on BLE") >= 0), "a warning");
    assert(r.link.notify(frame(1)), "over BLE");
    assertEqual(r.ble.sent, [frame(1)]);
    const warnings = r.logs.length;
    r.link.useTransport("both");
    assertEqual(r.link.transport, "ble");
    assertEqual(r.logs.length, warnings + 1);
    assertEqual(r.mqtt.starts, 0);
  });

  test("writes from either link reach onWrite, whichever carries the frames", () => {
    const r = rig();
    r.link.useTransport("ble");
    r.ble.set(true);
    r.ble.write(frame(1));
    r.mqtt.write(frame(2));
    r.link.useTransport("mqtt");
    r.ble.write(frame(3));
    r.mqtt.write(frame(4));
    assertEqual(r.writes, [frame(1), frame(2), frame(3), frame(4)]);
  });

  test("stop (a reboot) stops Wi-Fi, and the next firmware's useTransport starts it again", () => {
    const r = rig();
    r.link.useTransport("mqtt");
    r.mqtt.set(true);
    r.link.stop();
    assertEqual(r.mqtt.stops, 1);
    r.mqtt.set(false);
    r.link.useTransport("mqtt");
    assertEqual(r.mqtt.starts, 2);
    r.link.stop();
    r.link.stop();
    assertEqual(r.mqtt.stops, 2, "a stopped link is stopped once");
  });

  test("standard characteristics go to BLE, whatever the transport", () => {
    const r = rig();
    r.link.useTransport("mqtt");
    const hr = new Uint8Array([0x06, 0x48]);
    r.link.publishCharacteristic("heart-rate", hr);
    assertEqual(r.ble.published, [{ name: "heart-rate", value: hr }]);
    assertEqual(r.mqtt.published, []);
  });
});
