/**
 * The gateway's throughput per core (`npm run -s bench -- --only gateway --json`, key `gateway`):
 * two figures measured side by side in one run, over the same frames.
 *
 * The frames: `devices` generator devices (as host/fleet/fleet.ts seals them: the real
 * FrameSealer, ES256 + P-256 + A128GCM, 5 readings per frame, each message in its link envelope
 * from `sealEnvelope`), each having announced its epoch first (announcements not counted), their
 * frames interleaved round-robin.
 *
 * - raw (`rawVerifyPerSecondPerCore`): the crypto a data frame needs at minimum, with Node's
 *   crypto on one thread: one ES256 verification of the inner COSE_Sign1's Sig_structure (public
 *   key objects made beforehand) and one A128GCM decryption of the frame's ciphertext, per second
 *   of process CPU time (process.cpuUsage, user + system).
 * - gateway (`framesPerSecondPerCore`): the whole receiving path of a gateway worker for the same
 *   frames: `GatewayService.receive` (envelope check, verification and decryption through
 *   `Gateway`/`FrameOpener` with the gateway's default crypto, replay window, CBOR decode, ack
 *   level), and every `batchFrames` frames one SQLite transaction (a
 *   temporary file, WAL) storing the batch's readings with the acknowledgement and replay state of
 *   the devices it touched, as a gateway must before it sends the batch's acknowledgements, then
 *   those acknowledgements sealed, one per device of the batch, of its latest level (as the batch
 *   gateway of the cluster's workers does: an acknowledgement covers every message before it); per
 *   second of CPU time of the process (every thread).
 *
 * The measuring process runs with the gateway worker's Node options (GATEWAY_WORKER_NODE_OPTIONS,
 * host/gateway/worker-node-options.ts): `measureGatewayThroughputInWorkerProcess` starts it.
 *
 * The two passes alternate batch by batch over the same frames (so that both see the same load of
 * the machine). The first `warmUpFrames` frames (default 2000, at most half) of both passes run untimed, so that
 * the compilation of the hot paths (on V8's background threads, counted in the process's CPU
 * time) is not measured: a gateway worker runs for hours.
 */
import { spawnSync } from "node:child_process";
import { createDecipheriv, createPublicKey, verify as nodeVerify, type KeyObject } from "node:crypto";
import { pathToFileURL } from "node:url";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromHex, toHex } from "../../protocol/bytes.js";
import { decodeEncrypt0, decodeSign1, encStructure, partialIvNonce, protectedForStructure, sigStructure, HEADER_PARTIAL_IV } from "../../protocol/cose.js";
import { FrameSealer, frameExternalAad } from "../../protocol/frame.js";
import { decodeAck, decodeEnvelope, sealEnvelope } from "../../protocol/link-messages.js";
import { unpadPlaintext } from "../../protocol/padding.js";
import type { Reading } from "../../protocol/record.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { FleetCrypto } from "../fleet/fleet-crypto.js";
import { Gateway, type GatewayReading } from "../gateway/gateway.js";
import { GatewayService, type ReadingSink } from "../gateway/service.js";
import { SqliteStore, storeSealingKey } from "../gateway/store-sqlite.js";
import { seededBytes, simKeys } from "../sim/sim-keys.js";
import { GATEWAY_WORKER_NODE_OPTIONS } from "../gateway/worker-node-options.js";
import { repoRoot } from "../xs/build.js";

export interface GatewayThroughputOptions {
  /** Devices, each announcing its epoch first (default 200). */
  devices?: number;
  /** Data frames measured, interleaved over the devices (default 20000). */
  frames?: number;
  /** Frames per store transaction (default 1024). */
  batchFrames?: number;
  /** Frames received (and stored) untimed first, in both passes. */
  warmUpFrames?: number;
  seed?: number;
}

export interface GatewayThroughput {
  method: string;
  devices: number;
  frames: number;
  readingsPerFrame: number;
  batchFrames: number;
  warmUpFrames: number;
  frameBytes: number;
  /** ES256 verification + A128GCM decryption per CPU second (one thread). */
  rawVerifyPerSecondPerCore: number;
  /** Frames through the gateway's receiving path and stored, per CPU second of the process. */
  framesPerSecondPerCore: number;
  /** framesPerSecondPerCore / rawVerifyPerSecondPerCore (the goal: at least 0.5). */
  ratio: number;
  rawVerifyPerWallSecond: number;
  framesPerWallSecond: number;
  /** The gateway pass's CPU time per frame, in microseconds: receiving (service) and storing (SQLite). */
  cpuMicrosecondsPerFrame: { receive: number; store: number; total: number };
  storedReadings: number;
  /** Acknowledgements sealed: one per device per batch, of its latest level. */
  acknowledgements: number;
  /** Frames covered by those acknowledgements (all of them). */
  framesAcknowledged: number;
  derived: Record<string, string>;
}

export const GATEWAY_METHOD =
  "raw: one ES256 verification (inner COSE_Sign1, key objects made beforehand) + one A128GCM decryption per frame, node:crypto, one thread, per CPU second (process.cpuUsage user+system); " +
  "gateway: GatewayService.receive (envelope tag, FrameOpener verify + decrypt + replay window, CBOR, ack level; acknowledgements deferred, one sealed per device per batch) + one SQLite transaction (temp file, WAL) per batch storing readings, ack state and replay state, per CPU second of the process (all threads); " +
  "frames sealed as the fleet's generator devices seal them (FrameSealer, ES256 + P-256 + A128GCM, 5 readings, link envelope), devices interleaved, epochs announced first (not counted)";

const READINGS_PER_FRAME = 5;

/**
 * Frames per store transaction. With 200 devices interleaved, a transaction rewrites about two
 * B-tree leaves per device it touches (the readings and their time index), whatever the number
 * of rows: 1024 frames (about five per device) cost the store about half the CPU per frame of 256.
 */
export const DEFAULT_BATCH_FRAMES = 1024;

/** CPU seconds (user + system, every thread of the process) since `since`. */
function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

interface SealedFrame {
  device: string;
  envelope: Uint8Array;
}

/** Collects the batch's readings; the store deduplicates them by key when the batch commits. */
class BatchSink implements ReadingSink {
  readings: GatewayReading[] = [];
  storeReadings(readings: GatewayReading[]): number {
    for (const r of readings) this.readings.push(r);
    return readings.length;
  }
}

/**
 * The announcements of `devices` generator devices, and `seal(from, to)`, which seals their
 * interleaved frames `from` to `to` - 1 (frame n is device n % devices' frame n / devices), in order.
 */
export function sealFleet(devices: number, seed: number) {
  const gatewayKeys = simKeys(seed, 0);
  const crypto = new FleetCrypto(seededBytes(seed, "gateway-bench-devices"));
  const identities: { hex: string; deviceId: Uint8Array; publicKey: Uint8Array }[] = [];
  const sealers: FrameSealer[] = [];
  const qseq: number[] = [];
  const announcements: SealedFrame[] = [];
  const envelope = (i: number, message: Uint8Array): Uint8Array => {
    const s = sealers[i];
    const q = ++qseq[i];
    return sealEnvelope(crypto, s.linkKey(s.epoch!)!, identities[i].deviceId, s.epoch!, q, q - 1, message);
  };
  // One portable instance whose random source is switched per device (building one per device
  // would rebuild the curve's tables each time).
  let source: (n: number) => Uint8Array = seededBytes(seed, "gateway-bench-device");
  const noble = new NobleCrypto((n) => source(n));
  for (let i = 0; i < devices; i++) {
    source = seededBytes(seed, `gateway-bench-device-${i}`);
    const kp = noble.signatureKeyPair("ES256");
    const deviceId = seededBytes(seed, `gateway-bench-id-${i}`)(8);
    identities.push({ hex: toHex(deviceId), deviceId, publicKey: kp.publicKey });
    sealers.push(
      new FrameSealer({
        crypto,
        deviceId,
        identityPrivateKey: kp.privateKey,
        identityPublicKey: kp.publicKey,
        signatureAlg: "ES256",
        gatewayPublicKey: gatewayKeys.gatewayPublicKey,
        gatewayKeyId: gatewayKeys.gatewayKeyId,
        agreementAlg: gatewayKeys.agreementAlg,
      }),
    );
    qseq.push(0);
    announcements.push({ device: identities[i].hex, envelope: envelope(i, sealers[i].openEpoch(1)) });
  }
  const startMs = Date.parse("2026-01-01T08:00:00Z");
  const seal = (from: number, to: number): SealedFrame[] => {
    const sealed: SealedFrame[] = [];
    for (let n = from; n < to; n++) {
      const i = n % devices;
      const frameSeq = Math.floor(n / devices);
      const readings: Reading[] = [];
      for (let k = 0; k < READINGS_PER_FRAME; k++) {
        const t = (frameSeq * READINGS_PER_FRAME + k) * 1000;
        readings.push({
          seq: frameSeq * READINGS_PER_FRAME + k,
          timeMs: startMs + t,
          hrBpm: Math.round((64 + (i % 30) + 6 * Math.sin(t / 47_000)) * 10) / 10,
          hrQuality: 80 + ((k * 7 + i) % 16),
          tempC: Math.round((33.5 + 0.4 * Math.sin(t / 143_000)) * 100) / 100,
          flags: 0,
        });
      }
      sealed.push({ device: identities[i].hex, envelope: envelope(i, sealers[i].seal({ schema: 1, frameSeq, firmwareVersion: "1.0.0", readings })) });
    }
    return sealed;
  };
  return { gatewayKeys, identities, announcements, seal };
}

interface RawInput {
  key: Uint8Array;
  nonce: Uint8Array;
  aad: Uint8Array;
  body: Uint8Array;
  tag: Uint8Array;
  publicKey: KeyObject;
  tbs: Uint8Array;
  signature: Uint8Array;
}

/** What the raw pass needs of each frame, prepared untimed with the gateway's epoch keys. */
function rawInputMaker(gateway: Gateway, identities: readonly { hex: string; publicKey: Uint8Array }[]): (sealed: readonly SealedFrame[]) => RawInput[] {
  const secrets = new Map(gateway.exportEpochSecrets().map((d) => [d.deviceId, d.epochs[0]]));
  const keys = new Map(identities.map((d) => [d.hex, createPublicKey({ key: { kty: "EC", crv: "P-256", x: Buffer.from(d.publicKey.subarray(1, 33)).toString("base64url"), y: Buffer.from(d.publicKey.subarray(33)).toString("base64url") }, format: "jwk" })]));
  return (sealed) => sealed.map((f) => {
    const env = decodeEnvelope(f.envelope);
    if (!env.ok) throw new Error("bench: a sealed envelope does not decode");
    const msg = decodeEncrypt0(env.value.message);
    if (!msg.ok) throw new Error("bench: a sealed frame does not decode");
    const s = secrets.get(f.device)!;
    const key = fromHex(s.contentKey)!;
    const nonce = partialIvNonce(fromHex(s.baseIv)!, msg.value.unprotectedHeaders.get(HEADER_PARTIAL_IV) as Uint8Array);
    const externalAad = frameExternalAad(fromHex(f.device)!, s.epoch);
    const aad = encStructure(protectedForStructure(msg.value), externalAad);
    const ct = msg.value.ciphertext;
    const d = createDecipheriv("aes-128-gcm", key, nonce, { authTagLength: 16 });
    d.setAAD(aad);
    d.setAuthTag(ct.subarray(ct.length - 16));
    const plain = new Uint8Array(Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]));
    const unpadded = unpadPlaintext(plain);
    if (!unpadded.ok) throw new Error("bench: a sealed frame does not unpad");
    const inner = decodeSign1(unpadded.inner);
    if (!inner.ok) throw new Error("bench: a sealed frame's COSE_Sign1 does not decode");
    return {
      key,
      nonce,
      aad,
      body: ct.subarray(0, ct.length - 16),
      tag: ct.subarray(ct.length - 16),
      publicKey: keys.get(f.device)!,
      tbs: sigStructure(protectedForStructure(inner.value), externalAad, inner.value.payload),
      signature: inner.value.signature,
    };
  });
}

function rawPass(inputs: readonly RawInput[], from: number, to: number): number {
  let ok = 0;
  for (let i = from; i < to; i++) {
    const x = inputs[i];
    const d = createDecipheriv("aes-128-gcm", x.key, x.nonce, { authTagLength: 16 });
    d.setAAD(x.aad);
    d.setAuthTag(x.tag);
    d.update(x.body);
    d.final();
    if (nodeVerify("sha256", x.tbs, { key: x.publicKey, dsaEncoding: "ieee-p1363" }, x.signature)) ok++;
  }
  return ok;
}

export function measureGatewayThroughput(options: GatewayThroughputOptions = {}): GatewayThroughput {
  const devices = options.devices ?? 200;
  const frames = options.frames ?? 20000;
  const batchFrames = options.batchFrames ?? DEFAULT_BATCH_FRAMES;
  const seed = options.seed ?? 1;
  const warmUpFrames = options.warmUpFrames ?? Math.min(2000, Math.floor(frames / 2));
  const { gatewayKeys, identities, announcements, seal } = sealFleet(devices, seed);

  const dir = mkdtempSync(join(tmpdir(), "wearable-gateway-bench-"));
  const store = new SqliteStore(join(dir, "gateway.db"));
  try {
    const gateway = new Gateway({ gatewayPrivateKey: gatewayKeys.gatewayPrivateKey, agreementAlg: gatewayKeys.agreementAlg, gatewayKeyId: gatewayKeys.gatewayKeyId });
    for (const d of identities) {
      const { generation } = store.registerIdentity(d.hex, toHex(d.publicKey));
      gateway.registerDevice({ deviceId: d.deviceId, identityPublicKey: d.publicKey, signatureAlg: "ES256", generation });
    }
    const sink = new BatchSink();
    const sealingKey = storeSealingKey(gatewayKeys.gatewayPrivateKey);
    const newEpochs = new Set<string>();
    // As a batch gateway: one acknowledgement per device per batch, sealed once the batch is stored.
    const service = new GatewayService(gateway, sink, { onNewEpoch: (device) => newEpochs.add(device), deferAcks: true });
    for (const a of announcements) {
      const d = service.receive(a.device, a.envelope);
      if (d.kind !== "epoch") throw new Error(`bench: an announcement was not accepted (${d.kind})`);
    }
    store.commitBatch({ readings: [], ackStates: service.exportAckState(), replayStates: gateway.exportReplayState(), epochSecrets: { secrets: gateway.exportEpochSecrets(newEpochs), key: sealingKey } });
    newEpochs.clear();

    // The two passes alternate batch by batch over the same frames, so that both see the same
    // machine (other processes, caches, frequency) over the run. Each batch is sealed (untimed)
    // just before it is measured and dropped after: the process holds one batch, as a worker
    // does, whatever the number of frames.
    const rawInputs = rawInputMaker(gateway, identities);
    let rawCpuS = 0;
    let rawWallS = 0;
    let verified = 0;
    const rawBatch = (inputs: readonly RawInput[]) => {
      const cpu = process.cpuUsage();
      const wall = performance.now();
      verified += rawPass(inputs, 0, inputs.length);
      rawWallS += (performance.now() - wall) / 1000;
      rawCpuS += cpuSeconds(cpu);
    };
    let storedReadings = 0;
    let acknowledgements = 0;
    let framesAcknowledged = 0;
    let receiveCpuS = 0;
    let storeCpuS = 0;
    let gwWallS = 0;
    const touched = new Set<string>();
    // Receive a batch, then store it before its acknowledgements may go out.
    const gatewayBatch = (sealed: readonly SealedFrame[], qseqs: readonly number[]) => {
      const wall = performance.now();
      let mark = process.cpuUsage();
      for (let n = 0; n < sealed.length; n++) {
        const f = sealed[n];
        const d = service.receive(f.device, f.envelope);
        if (d.kind !== "stored" || d.ackDue !== true) throw new Error(`bench: frame ${n} of its batch was not stored and acknowledged (${d.kind}${d.event?.kind === "rejected" ? `: ${d.event.detail}` : ""})`);
        touched.add(f.device);
      }
      receiveCpuS += cpuSeconds(mark);
      mark = process.cpuUsage();
      const readings = sink.readings;
      sink.readings = [];
      storedReadings += store.commitBatch({ readings, ackStates: service.exportAckState(touched), replayStates: gateway.exportReplayState(touched) }).stored;
      touched.clear();
      // Stored: the batch's acknowledgements may go out now, one per device, of its latest level.
      const acks = service.takeAcks();
      acknowledgements += acks.length;
      const level = new Map(acks.map((a) => [a.device, decodeAck(a.message)]));
      for (let n = 0; n < sealed.length; n++) {
        const a = level.get(sealed[n].device);
        if (a === undefined || !a.ok || a.value.qseq < qseqs[n]) throw new Error(`bench: frame ${n} of its batch is not covered by its device's acknowledgement`);
      }
      framesAcknowledged += sealed.length;
      storeCpuS += cpuSeconds(mark);
      gwWallS += (performance.now() - wall) / 1000;
    };
    let envelopeBytes = 0;
    const run = (from: number, to: number) => {
      for (let n = from; n < to; n += batchFrames) {
        const sealed = seal(n, Math.min(to, n + batchFrames));
        // Each frame's queue number, to check what the acknowledgements cover.
        const qseqs = sealed.map((f) => {
          const e = decodeEnvelope(f.envelope);
          if (!e.ok) throw new Error("bench: a sealed envelope does not decode");
          return e.value.qseq;
        });
        for (const f of sealed) envelopeBytes += f.envelope.length;
        rawBatch(rawInputs(sealed));
        gatewayBatch(sealed, qseqs);
      }
    };
    run(0, warmUpFrames);
    rawCpuS = rawWallS = verified = 0;
    storedReadings = acknowledgements = framesAcknowledged = receiveCpuS = storeCpuS = gwWallS = envelopeBytes = 0;
    run(warmUpFrames, warmUpFrames + frames);
    if (verified !== frames) throw new Error(`bench: ${frames - verified} of ${frames} frames did not verify in the raw pass`);
    if (storedReadings !== frames * READINGS_PER_FRAME) throw new Error(`bench: ${storedReadings} readings stored, expected ${frames * READINGS_PER_FRAME}`);
    const gwCpuS = receiveCpuS + storeCpuS;

    const rawPerCore = frames / rawCpuS;
    const gwPerCore = frames / gwCpuS;
    const us = (s: number) => Math.round((s / frames) * 1e7) / 10;
    return {
      method: GATEWAY_METHOD,
      devices,
      frames,
      readingsPerFrame: READINGS_PER_FRAME,
      batchFrames,
      warmUpFrames,
      frameBytes: Math.round(envelopeBytes / frames),
      rawVerifyPerSecondPerCore: Math.round(rawPerCore),
      framesPerSecondPerCore: Math.round(gwPerCore),
      ratio: Math.round((gwPerCore / rawPerCore) * 1000) / 1000,
      rawVerifyPerWallSecond: Math.round(frames / rawWallS),
      framesPerWallSecond: Math.round(frames / gwWallS),
      cpuMicrosecondsPerFrame: { receive: us(receiveCpuS), store: us(storeCpuS), total: us(gwCpuS) },
      storedReadings,
      acknowledgements,
      framesAcknowledged,
      derived: { ratio: "framesPerSecondPerCore / rawVerifyPerSecondPerCore", frameBytes: "mean link envelope size of the measured frames" },
    };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Measures in a process of its own started with the gateway worker's Node options (what a
 * deployed worker runs with), so that the figures are the worker's and not the caller's.
 */
export function measureGatewayThroughputInWorkerProcess(options: { frames: number; devices: number }): GatewayThroughput {
  const r = spawnSync(process.execPath, [...GATEWAY_WORKER_NODE_OPTIONS, "--import", "tsx", "host/bench/gateway-throughput.ts", String(options.frames), String(options.devices)], {
    cwd: repoRoot,
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`the gateway throughput process failed (${r.status ?? r.signal}): ${(r.stderr || "").trim().split("\n").slice(-3).join(" ")}`);
  const g = JSON.parse(r.stdout) as GatewayThroughput;
  return { ...g, method: `${g.method}; measured in a process with the gateway worker's Node options ${GATEWAY_WORKER_NODE_OPTIONS.join(" ")}` };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const frames = Number(process.argv[2] ?? 20000);
  const devices = Number(process.argv[3] ?? Math.min(200, frames));
  process.stdout.write(JSON.stringify(measureGatewayThroughput({ frames, devices })) + "\n");
}
