/**
 * Soak in virtual time: one simulated wearable (firmware in-process on Node: the same portable
 * code as on XS, about 300 simulated seconds per wall second) sends to the gateway service for H
 * hours over the simulated BLE link and MQTT (transport "both": BLE while it is up, MQTT as the
 * fallback, through an in-process broker on the board's network, host/soak/sim-broker.ts), with
 * BLE drops, Wi-Fi outages, reboots and power cuts (some torn in the middle of a flash operation)
 * at seeded random times, then a quiet half hour to drain the queue. Counts what the device
 * committed to its durable queue against what the gateway stored.
 */
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { SimRng } from "../../hal/sim/rng.js";
import { FragmentReassembler } from "../../protocol/link-framing.js";
import { SimSession, type SimSessionConfig } from "../../entry/sim-session.js";
import type { WearableFirmware } from "../../firmware/app.js";
import { Gateway } from "../gateway/gateway.js";
import { GatewayService, MemoryReadingStore } from "../gateway/service.js";
import { DEFAULT_HR_TRACE, DEFAULT_START } from "../sim/run-sim.js";
import { seededBytes, simKeys } from "../sim/sim-keys.js";
import { fragmentMessage } from "../../protocol/link-framing.js";
import { InProcessBroker } from "./sim-broker.js";

export interface SoakOptions {
  hours: number;
  seed: number;
  /** Links (default "both": BLE first, MQTT as fallback). */
  transport?: "ble" | "mqtt" | "both";
  /** Mean minutes between Wi-Fi outages (default 45). */
  wifiDropEveryMin?: number;
  /** Mean minutes between link drops (default 20), reboots (default 180) and power cuts (default 240). */
  linkDropEveryMin?: number;
  rebootEveryMin?: number;
  powerCutEveryMin?: number;
  framePeriodS?: number;
  /** Quiet minutes at the end for the queue to drain (default 30). */
  drainMinutes?: number;
  progress?: (line: string) => void;
}

export interface SoakReport {
  hours: number;
  seed: number;
  transport: "ble" | "mqtt" | "both";
  /** Readings in frames the device committed to its durable queue. */
  produced: number;
  /** Distinct readings the gateway stored. */
  stored: number;
  lost: number;
  /** Readings that passed verification twice (the store caught them). */
  duplicates: number;
  /** Messages the device sent again that the gateway had already stored (dropped by the ack level or the replay check). */
  resentDropped: number;
  /** BLE drops plus Wi-Fi outages. */
  linkDrops: number;
  bleDrops: number;
  wifiDrops: number;
  /** Link messages that went over MQTT. */
  mqttMessages: number;
  reboots: number;
  powerCuts: number;
  /** Power cuts that tore a flash operation in the middle of a write or erase. */
  tornPowerCuts: number;
  /** Readings still in RAM (not yet sealed into a frame) when the device restarted. */
  unsealedAtRestart: number;
  rejected: number;
  queueDropped: number;
  wallSeconds: number;
}

const STEP_MS = 10_000;
const DRAIN_MS = 1_800_000;

export function runSoak(o: SoakOptions): SoakReport {
  const wallStart = performance.now();
  const keys = simKeys(o.seed);
  const framePeriodS = o.framePeriodS ?? 5;
  const transport = o.transport ?? "both";
  const idHex = Buffer.from(keys.deviceId).toString("hex");
  const config: SimSessionConfig = {
    seed: o.seed,
    startWallTimeMs: Date.parse(DEFAULT_START),
    heartRate: DEFAULT_HR_TRACE,
    skinTempC: [{ atS: 0, celsius: 33.5 }],
    framePeriodS,
    firmwareVersion: "1.0.0",
    mtu: 247,
    provisioning: keys.provisioning,
    transport,
    mqtt: { host: "127.0.0.1", port: 8883, tlsServerName: "127.0.0.1", username: idHex, password: "soak", topicPrefix: `wearable/${idHex}` },
  };
  const gateway = new Gateway({ crypto: new NobleCrypto(seededBytes(o.seed, "gateway-runtime")), gatewayPrivateKey: keys.gatewayPrivateKey, agreementAlg: keys.agreementAlg });
  gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: keys.identityPublicKey, signatureAlg: keys.signatureAlg });
  const store = new MemoryReadingStore();
  const service = new GatewayService(gateway, store);
  const reassembler = new FragmentReassembler();
  let latestAck: Uint8Array | null = null;
  const session = new SimSession(config, {
    notify(payload) {
      const r = reassembler.push(payload);
      if (r.kind !== "message") return;
      const d = service.receive(idHex, r.message);
      if (d.ack) latestAck = d.ack;
    },
    log() {},
  });
  // Wi-Fi: an in-process broker on the board's network; acks go back on the device's acks topic.
  const mqttReassembler = new FragmentReassembler();
  let ackNumber = 0;
  const broker: InProcessBroker = new InProcessBroker(
    () => session.board.network,
    (device, payload) => {
      const r = mqttReassembler.push(payload);
      if (r.kind !== "message") return;
      const d = service.receive(device, r.message);
      if (d.ack) broker.publish(`wearable/${device}/acks`, fragmentMessage(d.ack, 64, ackNumber++)[0]);
    },
  );
  session.board.network.host = broker;
  const instances: WearableFirmware[] = [session.firmware];
  session.boot();

  const rng = new SimRng(o.seed ^ 0x50a6);
  const expo = (meanMin: number) => Math.max(1000, Math.round(-Math.log(1 - rng.nextFloat()) * meanMin * 60_000));
  const endMs = Math.round(o.hours * 3_600_000);
  let nextDrop = expo(o.linkDropEveryMin ?? 20);
  let nextReboot = expo(o.rebootEveryMin ?? 180);
  let nextCut = expo(o.powerCutEveryMin ?? 240);
  let nextWifiDrop = expo(o.wifiDropEveryMin ?? 45);
  let wifiBackAt = -1;
  let wifiDrops = 0;
  let linkDrops = 0;
  let immediateCuts = 0;
  const central = session.board.link.central;
  let reconnectAt = -1;

  const drainMs = o.drainMinutes !== undefined ? o.drainMinutes * 60_000 : DRAIN_MS;
  for (let t = 0; t < endMs + drainMs; t += STEP_MS) {
    const quiet = t >= endMs;
    if (!quiet) {
      if (t >= nextDrop) {
        nextDrop = t + expo(o.linkDropEveryMin ?? 20);
        if (central.connected) {
          central.disconnect();
          linkDrops++;
          reconnectAt = t + 5_000 + Math.floor(rng.nextFloat() * 300_000);
        }
      }
      if (transport !== "ble" && t >= nextWifiDrop) {
        nextWifiDrop = t + expo(o.wifiDropEveryMin ?? 45);
        if (!session.board.network.down) {
          session.board.network.setDown(true);
          wifiDrops++;
          wifiBackAt = t + 5_000 + Math.floor(rng.nextFloat() * 600_000);
        }
      }
      if (t >= nextReboot) {
        nextReboot = t + expo(o.rebootEveryMin ?? 180);
        session.reboot();
      }
      if (t >= nextCut) {
        nextCut = t + expo(o.powerCutEveryMin ?? 240);
        // Half the cuts happen now, half tear one of the next flash operations.
        if (rng.nextFloat() < 0.5) {
          session.powerCut();
          immediateCuts++;
        } else session.powerCut(1 + Math.floor(rng.nextFloat() * 8));
      }
    }
    if (wifiBackAt >= 0 && (t >= wifiBackAt || quiet)) {
      wifiBackAt = -1;
      session.board.network.setDown(false);
    }
    if (reconnectAt >= 0 && t >= reconnectAt) {
      reconnectAt = -1;
      if (!central.connected) central.connect(247);
    }
    session.advance(STEP_MS);
    if (session.firmware !== instances[instances.length - 1]) instances.push(session.firmware);
    if (latestAck) {
      session.centralSend(latestAck);
      latestAck = null;
    }
    if (o.progress && (t + STEP_MS) % 3_600_000 === 0) {
      o.progress(`soak: ${(t + STEP_MS) / 3_600_000} h in ${((performance.now() - wallStart) / 1000).toFixed(0)} s, ${store.count()} readings stored`);
    }
  }
  // An armed cut that never fired is disarmed; the device stops sampling and the link delivers
  // what is still queued, so that the counts below are final.
  session.board.flash.cutPowerAtOperation(-1);
  session.firmware.stop();
  if (!central.connected) central.connect(247);
  for (let i = 0; i < 12; i++) {
    session.advance(STEP_MS);
    if (latestAck) {
      session.centralSend(latestAck);
      latestAck = null;
    }
  }

  let produced = 0;
  let unsealed = 0;
  let queueDropped = 0;
  for (let i = 0; i < instances.length; i++) {
    const s = instances[i].getStatus();
    produced += s.frames * framePeriodS;
    if (i < instances.length - 1) unsealed += s.readings - s.frames * framePeriodS;
    queueDropped = s.dropped;
  }
  const stored = store.count();
  const c = service.counters;
  return {
    hours: o.hours,
    seed: o.seed,
    transport,
    produced,
    stored,
    lost: Math.max(0, produced - stored),
    duplicates: c.duplicateReadings,
    resentDropped: c.duplicateMessages,
    linkDrops: linkDrops + wifiDrops,
    bleDrops: linkDrops,
    wifiDrops,
    mqttMessages: broker.publishes,
    reboots: session.restarts.reboots,
    powerCuts: session.restarts.powerCuts,
    tornPowerCuts: session.restarts.powerCuts - immediateCuts,
    unsealedAtRestart: unsealed,
    rejected: c.rejected + c.malformed,
    queueDropped,
    wallSeconds: Math.round((performance.now() - wallStart) / 100) / 10,
  };
}
