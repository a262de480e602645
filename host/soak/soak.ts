/**
 * Soak in virtual time: one simulated wearable (firmware in-process on Node: the same portable
 * code as on XS, 700 to 900 simulated seconds per wall second) sends to the gateway service for H
 * hours over the simulated BLE link and MQTT (transport "both": BLE while it is up, MQTT as the
 * fallback, through an in-process broker on the board's network, host/soak/sim-broker.ts), with
 * BLE drops, Wi-Fi outages, reboots and power cuts (some torn in the middle of a flash operation)
 * at seeded random times, then a quiet half hour to drain the queue. Counts what the device
 * committed to its durable queue against what the gateway stored.
 *
 * The gateway side is as rough: it starts late (after the device announced its epoch), restarts
 * from what it keeps on disk (epoch keys, replay window, acknowledgement level, readings) at
 * seeded times with some minutes of downtime, and an attacker with a broker account publishes
 * forged acknowledgements (the right CRC, no key) to the device, oversized and garbage messages
 * and a retained garbage frame to the frames topic.
 *
 * Midway, a maintainer re-provisions the device under the same id: a signed factory reset (the
 * device delivers its queue, then wipes), a new factory-signed bundle with a new identity key
 * once it reports "unprovisioned", the new key registered at the gateway (a new generation), and
 * the transport set again by command.
 */
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { SimRng } from "../../hal/sim/rng.js";
import { FragmentReassembler } from "../../protocol/link-framing.js";
import { SimSession, type SimSessionConfig } from "../../simulator/sim-session.js";
import type { WearableFirmware } from "../../firmware/app.js";
import { Gateway } from "../gateway/gateway.js";
import { GatewayService, MemoryReadingStore } from "../gateway/service.js";
import { DEFAULT_HR_TRACE, DEFAULT_START } from "../sim/run-sim.js";
import { seededBytes, simFactoryCa, simFactoryKey, simKeys, simStation } from "../sim/sim-keys.js";
import { StationSession } from "../provision/station.js";
import { isProvisioningResponse } from "../../protocol/provisioning.js";
import { fragmentMessage } from "../../protocol/link-framing.js";
import { decodeEnvelope, encodeAck } from "../../protocol/link-messages.js";
import { crc32 } from "../../protocol/crc32.js";
import type { DeviceEpochSecrets, DeviceReplayState } from "../../protocol/frame.js";
import { InProcessBroker, SIM_MESSAGE_SIZE_LIMIT } from "./sim-broker.js";
import { signCommand } from "../../protocol/command.js";
import { toHex as bytesToHex } from "../../protocol/bytes.js";

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
  /** Gateway restarts spread over the run (default 5), each with 1-10 minutes of downtime. */
  gatewayRestarts?: number;
  /** Minutes the gateway starts after the device (default 10; it misses the first announcement). */
  gatewayStartMin?: number;
  /** Mean minutes between the attacker's rounds (default 40; 0: no attacker). */
  attackEveryMin?: number;
  /** Re-provision the device under the same id midway (default true). */
  reprovision?: boolean;
  progress?: (line: string) => void;
}

export interface SoakReport {
  hours: number;
  seed: number;
  transport: "ble" | "mqtt" | "both";
  /** Readings the device took (each journaled before it counts), less those still unsealed at the end. */
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
  /** Readings taken but lost at a power cut (a torn journal entry); expected 0. */
  readingsLostAtPowerCut: number;
  /** Readings found unsealed in the journal at boot and sealed by the next run (they would have been lost before the journal). */
  readingsRecovered: number;
  /** Readings of a run's last frame sealed again under the same frame number at boot (the gateway drops the second copy). */
  readingsResealed: number;
  rejected: number;
  queueDropped: number;
  /** Gateway restarts from its disk, and the minutes it started after the device. */
  gatewayRestarts: number;
  gatewayLateMin: number;
  /** Forged acknowledgements the attacker sent, and those the device refused (all of them). */
  forgedAcksSent: number;
  forgedAcksRefused: number;
  /** Attacker publishes over the broker's size limit, dropped by the broker. */
  oversizeDropped: number;
  /** Garbage publishes the gateway dropped (broken link framing, or a malformed envelope). */
  garbageDropped: number;
  /** Retained messages (the attacker's) the gateway ignored when it subscribed. */
  retainedIgnored: number;
  /** Envelopes the gateway could not check (epoch unknown) or that did not verify. */
  unverifiedEnvelopes: number;
  forgedEnvelopes: number;
  /** Announcement requests the gateway sent, and those the device honoured. */
  announceRequests: number;
  announcementsSent: number;
  /** Messages no one could ever open, acknowledged and reported (must stay 0). */
  unrecoverable: number;
  /** Messages still in the device's queue when the soak ended (0: everything was delivered). */
  queuedAtEnd: number;
  /** Re-provisionings under the same id (factory reset, new identity key, new gateway generation). */
  reprovisions: number;
  /** Minutes the device spent delivering its queue between the factory reset command and the wipe. */
  retiringMin: number;
  /** Simulated time the run covered, from the board's virtual clock (the hours, the quiet minutes and the final drain). */
  simulatedSeconds: number;
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
  // The factory CA: its key (written at manufacturing) verifies the second life's provisioning
  // bundle; it certified the first life's key (the board starts provisioned) and certifies the
  // second's, whose key the device generates after its factory reset.
  const ca = simFactoryCa(o.seed);
  const config: SimSessionConfig = {
    factoryKey: simFactoryKey(ca),
    seed: o.seed,
    startWallTimeMs: Date.parse(DEFAULT_START),
    heartRate: DEFAULT_HR_TRACE,
    skinTempC: [{ atS: 0, celsius: 33.5 }],
    framePeriodS,
    firmwareVersion: "1.0.0",
    mtu: 247,
    provisioning: { ...keys.provisioning, certificate: bytesToHex(ca.issueDeviceCertificate(idHex, keys.identityPublicKey)) },
    transport,
    mqtt: { host: "127.0.0.1", port: 8883, tlsServerName: "127.0.0.1", username: idHex, topicPrefix: `wearable/${idHex}` },
  };
  // The gateway's disk: epoch keys (saved before anything under a new epoch is acknowledged),
  // replay window and acknowledgement level (saved every step), and the readings.
  const store = new MemoryReadingStore();
  const disk: {
    identity: { key: Uint8Array; generation: number };
    secrets: DeviceEpochSecrets[];
    replay: DeviceReplayState[];
    acks: { source: string; level: number; check: number }[];
  } = { identity: { key: keys.identityPublicKey, generation: 0 }, secrets: [], replay: [], acks: [] };
  const totals = { rejected: 0, malformed: 0, duplicateReadings: 0, duplicateMessages: 0, unverifiedEnvelopes: 0, forgedEnvelopes: 0, announceRequests: 0, unrecoverable: 0 };
  let retainedIgnored = 0;
  /** Publishes whose link framing does not parse (the attacker's garbage; never a device's). */
  let framingDropped = 0;
  const startGateway = (): GatewayService => {
    const gateway = new Gateway({ crypto: new NobleCrypto(seededBytes(o.seed, "gateway-runtime")), gatewayPrivateKey: keys.gatewayPrivateKey, agreementAlg: keys.agreementAlg });
    gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: disk.identity.key, signatureAlg: keys.signatureAlg, generation: disk.identity.generation });
    gateway.importReplayState(disk.replay);
    gateway.importEpochSecrets(disk.secrets);
    const svc = new GatewayService(gateway, store, { now: () => virtualNow, onNewEpoch: () => (disk.secrets = gateway.exportEpochSecrets()) });
    svc.importAckState(disk.acks);
    return svc;
  };
  const stopGateway = (svc: GatewayService) => {
    disk.replay = svc.gateway.exportReplayState();
    disk.acks = svc.exportAckState();
    const c = svc.counters;
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += c[k];
  };
  let virtualNow = 0;
  let service: GatewayService | null = null;
  const reassembler = new FragmentReassembler();
  let latestAck: Uint8Array | null = null;
  const bleReplies: Uint8Array[] = [];
  /** The factory station while the device is re-provisioned (its answer comes over BLE). */
  let station: StationSession | null = null;
  const session = new SimSession(config, {
    notify(payload) {
      const r = reassembler.push(payload);
      if (r.kind === "message" && isProvisioningResponse(r.message)) {
        if (station) stationAnswered(station.receive(r.message));
        return;
      }
      if (r.kind !== "message" || service === null) return;
      const d = service.receive(idHex, r.message);
      if (d.ack && d.ack[0] === 0xac) latestAck = d.ack;
      else if (d.ack) bleReplies.push(d.ack);
    },
    log() {},
  });
  // The attacker reads the frames topic: it learns each message's queue number and CRC.
  let lastSeen: { epoch: number; qseq: number; check: number } | null = null;
  // Wi-Fi: an in-process broker on the board's network; acks go back on the device's acks topic.
  const mqttReassembler = new FragmentReassembler();
  let ackNumber = 0;
  const broker: InProcessBroker = new InProcessBroker(
    () => session.board.network,
    (device, payload, retained) => {
      if (service === null) return; // the gateway is down: lost in transit
      if (retained) {
        retainedIgnored++;
        return;
      }
      const r = mqttReassembler.push(payload);
      if (r.kind === "error") framingDropped++;
      if (r.kind !== "message") return;
      const env = decodeEnvelope(r.message);
      if (env.ok) lastSeen = { epoch: env.value.epoch, qseq: env.value.qseq, check: crc32(env.value.message) };
      const d = service.receive(device, r.message);
      if (d.ack) broker.publish(`wearable/${device}/acks`, fragmentMessage(d.ack, 64, ackNumber++)[0]);
    },
    (certificate) => {
      const c = ca.check(certificate, new Date());
      return c.ok ? c.identity.commonName : null;
    },
  );  session.board.network.host = broker;
  const instances: WearableFirmware[] = [session.firmware];
  const startTicks = session.board.clock.ticks();
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
  const gatewayStartMs = Math.round((o.gatewayStartMin ?? 10) * 60_000);
  const restarts = o.gatewayRestarts ?? 5;
  const restartAt: number[] = [];
  for (let i = 0; i < restarts; i++) restartAt.push(Math.round(((i + 0.5) / restarts) * endMs) + Math.floor(rng.nextFloat() * 600_000));
  let gatewayBackAt = gatewayStartMs;
  let gatewayRestarts = 0;
  let gatewayUpSince = 0;
  const attackMean = o.attackEveryMin ?? 40;
  let nextAttack = attackMean > 0 ? expo(attackMean) : Infinity;
  let forgedAcksSent = 0;
  let garbagePublished = 0;
  // Re-provisioning: when the maintainer orders the factory reset, and where it stands.
  let reprovisionAt = o.reprovision === false ? Infinity : Math.round((0.4 + 0.2 * rng.nextFloat()) * endMs);
  let reprovisionStage: "waiting" | "resetting" | "station" | "done" = "waiting";
  /** The station checked the device's proof: the bundle to the device, the certified key to the gateway. */
  const stationAnswered = (r: ReturnType<StationSession["receive"]>) => {
    if (r.send) session.centralSend(r.send);
    const p = r.provisioned;
    if (!p || reprovisionStage !== "station") return;
    // The wipe reset the device's settings: the maintainer sets its transport again.
    session.centralSend(maintainerCommand({ op: "set-transport", transport }));
    disk.identity = { key: p.identityPublicKey, generation: disk.identity.generation + 1 };
    disk.secrets = [];
    disk.replay = [];
    disk.acks = [];
    if (service !== null) service.gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: p.identityPublicKey, signatureAlg: p.signatureAlg, generation: disk.identity.generation });
    reprovisionStage = "done";
    reprovisionAt = Infinity;
    reprovisions++;
  };
  let resetOrderedAt = 0;
  let retiringMs = 0;
  let reprovisions = 0;
  let commandId = 0;
  const maintainer = keys.roles.maintainer;
  const maintainerCommand = (args: Parameters<typeof signCommand>[3]["args"]) =>
    signCommand(new NobleCrypto(seededBytes(o.seed, `soak-command-${commandId}`)), "ES256", maintainer.privateKey, {
      role: "maintainer",
      deviceId: keys.deviceId,
      commandId: ++commandId,
      expiresMs: Math.round(session.board.clock.wallTime()) + 3_600_000,
      args,
    });

  const drainMs = o.drainMinutes !== undefined ? o.drainMinutes * 60_000 : DRAIN_MS;
  // A progress line every simulated hour, or every tenth of a shorter run (in whole steps).
  const progressMs = Math.min(3_600_000, Math.max(STEP_MS, Math.round((endMs + drainMs) / 10 / STEP_MS) * STEP_MS));
  for (let t = 0; t < endMs + drainMs; t += STEP_MS) {
    virtualNow = t;
    const quiet = t >= endMs;
    if (service === null && t >= gatewayBackAt) {
      service = startGateway();
      gatewayUpSince = t;
      // A gateway (re)subscribing gets the retained message of each frames topic: ignored.
      for (const [topic] of broker.retained) if (topic.endsWith("/frames")) retainedIgnored++;
    }
    // A restart falls due only once the gateway has run a while (two minutes) since it started.
    if (!quiet && service !== null && restartAt.length && t >= restartAt[0] && t - gatewayUpSince >= 120_000) {
      restartAt.shift();
      stopGateway(service);
      service = null;
      gatewayRestarts++;
      gatewayBackAt = t + 60_000 + Math.floor(rng.nextFloat() * 540_000);
    }
    if (!quiet && t >= nextAttack) {
      nextAttack = t + expo(attackMean);
      // Forged acknowledgements: the last message seen, its CRC, and tags made without the key.
      const seen = lastSeen as { epoch: number; qseq: number; check: number } | null;
      if (seen) {
        for (let k = 0; k < 3; k++) {
          const tag = new Uint8Array(16);
          for (let j = 0; j < 16; j++) tag[j] = Math.floor(rng.nextFloat() * 256);
          broker.attackerPublish(`wearable/${idHex}/acks`, fragmentMessage(encodeAck(seen.epoch, seen.qseq, seen.check, tag), 64, 0)[0]);
          // The same over BLE: a rogue central writes to the acks characteristic.
          session.centralSend(encodeAck(seen.epoch + k, seen.qseq, seen.check, tag));
          forgedAcksSent += 2;
        }
      }
      // An oversized publish, garbage, and a retained garbage frame on the device's frames topic.
      broker.attackerPublish(`wearable/${idHex}/frames`, new Uint8Array(SIM_MESSAGE_SIZE_LIMIT + 1 + Math.floor(rng.nextFloat() * 1_000_000)));
      const garbage = new Uint8Array(20 + Math.floor(rng.nextFloat() * 200));
      for (let j = 0; j < garbage.length; j++) garbage[j] = Math.floor(rng.nextFloat() * 256);
      garbage[0] = 0xc0; // single-fragment link framing, then junk
      garbage[3] = 0xae;
      broker.attackerPublish(`wearable/${idHex}/frames`, garbage);
      broker.attackerPublish(`wearable/${idHex}/frames`, garbage, true);
      garbagePublished++;
    }
    if (!quiet && t >= reprovisionAt) {
      const state = session.firmware.getStatus().state;
      if (reprovisionStage === "waiting" || (reprovisionStage === "resetting" && state !== "retiring" && state !== "unprovisioned" && t - resetOrderedAt > 1_200_000)) {
        // The factory reset command (again, if it expired on the way); BLE takes it when it is up.
        session.centralSend(maintainerCommand({ op: "factory-reset" }));
        if (reprovisionStage === "waiting") resetOrderedAt = t;
        reprovisionStage = "resetting";
      } else if (reprovisionStage === "resetting" && state === "unprovisioned") {
        retiringMs = t - resetOrderedAt;
        // The device generated a new identity key when it wiped the old one: the station asks
        // for it over BLE (stationAnswered takes it from there).
        station = new StationSession(simStation(keys, ca), { deviceId: () => keys.deviceId, expectDeviceId: keys.deviceId, expectAlg: keys.signatureAlg });
        session.centralSend(station.start());
        reprovisionStage = "station";
      }
    }
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
    for (const r of bleReplies.splice(0)) session.centralSend(r);
    if (latestAck) {
      session.centralSend(latestAck);
      latestAck = null;
    }
    if (service !== null) {
      disk.replay = service.gateway.exportReplayState();
      disk.acks = service.exportAckState();
    }
    if (o.progress && (t + STEP_MS) % progressMs === 0 && t + STEP_MS < endMs + drainMs) {
      const done = t + STEP_MS;
      const where = done <= endMs ? `${Number((done / 3_600_000).toFixed(2))} of ${o.hours} h` : `${o.hours} h, quiet ${Math.round((done - endMs) / 60_000)} of ${drainMs / 60_000} min`;
      o.progress(`soak: ${where} in ${((performance.now() - wallStart) / 1000).toFixed(0)} s, ${store.count()} readings stored`);
    }
  }
  o.progress?.(`soak: ${o.hours} h and ${drainMs / 60_000} quiet min done in ${((performance.now() - wallStart) / 1000).toFixed(0)} s, ${store.count()} readings stored; delivering what is still queued`);
  // An armed cut that never fired is disarmed; the device stops sampling and the link delivers
  // what is still queued, so that the counts below are final.
  session.board.flash.cutPowerAtOperation(-1);
  session.firmware.stop();
  session.board.network.setDown(false);
  if (!central.connected) central.connect(247);
  if (service === null) service = startGateway();
  // Until the queue is empty (at most 30 minutes): with sampling stopped nothing else makes the
  // device send again, so a minute without progress gets it a new connection, as a central would.
  let depth = session.firmware.getStatus().queueDepth;
  let still = 0;
  for (let i = 0; i < 180 && depth > 0; i++) {
    session.advance(STEP_MS);
    for (const r of bleReplies.splice(0)) session.centralSend(r);
    if (latestAck) {
      session.centralSend(latestAck);
      latestAck = null;
    }
    const now = session.firmware.getStatus().queueDepth;
    still = now < depth ? 0 : still + 1;
    depth = now;
    if (still >= 6) {
      central.disconnect();
      central.connect(247);
      still = 0;
    }
  }

  // Readings taken (each is in the reading journal before it counts), less those still waiting for
  // their frame at the end; readings a torn journal write lost at a power cut are counted apart.
  let produced = 0;
  let lostAtPowerCut = 0;
  let recovered = 0;
  let resealed = 0;
  let queueDropped = 0;
  let forgedAcksRefused = 0;
  let announcementsSent = 0;
  for (const f of instances) {
    const s = f.getStatus();
    produced += s.readings;
    lostAtPowerCut += s.readingsLostAtPowerCut;
    recovered += s.readingsRecovered;
    resealed += s.readingsResealed;
    queueDropped = s.dropped;
    forgedAcksRefused += s.forgedAcksRefused;
    announcementsSent += s.announceRequests;
  }
  produced -= instances[instances.length - 1].getStatus().readingsPending;
  const stored = store.count();
  stopGateway(service);
  const c = totals;
  return {
    hours: o.hours,
    seed: o.seed,
    transport,
    produced,
    stored,
    lost: Math.max(0, produced - lostAtPowerCut - stored),
    duplicates: c.duplicateReadings,
    resentDropped: c.duplicateMessages,
    linkDrops: linkDrops + wifiDrops,
    bleDrops: linkDrops,
    wifiDrops,
    mqttMessages: broker.publishes,
    reboots: session.restarts.reboots,
    powerCuts: session.restarts.powerCuts,
    tornPowerCuts: session.restarts.powerCuts - immediateCuts,
    readingsLostAtPowerCut: lostAtPowerCut,
    readingsRecovered: recovered,
    readingsResealed: resealed,
    rejected: c.rejected + c.malformed,
    queueDropped,
    gatewayRestarts,
    gatewayLateMin: gatewayStartMs / 60_000,
    forgedAcksSent,
    forgedAcksRefused,
    oversizeDropped: broker.oversizeDropped,
    garbageDropped: framingDropped + c.malformed,
    retainedIgnored,
    unverifiedEnvelopes: c.unverifiedEnvelopes,
    forgedEnvelopes: c.forgedEnvelopes,
    announceRequests: c.announceRequests,
    announcementsSent,
    unrecoverable: c.unrecoverable,
    queuedAtEnd: depth,
    reprovisions,
    retiringMin: Math.round(retiringMs / 6000) / 10,
    simulatedSeconds: Math.round((session.board.clock.ticks() - startTicks) / 1000),
    wallSeconds: Math.round((performance.now() - wallStart) / 100) / 10,
  };
}
