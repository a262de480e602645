/**
 * The gateway's receiving path for a shared store: link messages are verified in batches, and each
 * batch is committed to the store in one transaction before anything in it is acknowledged.
 *
 * Several gateway workers share one store (PostgreSQL, host/gateway/store-postgres.ts) and the
 * clustered broker hands each device's stream to one worker at a time (host/cluster/rabbitmq.ts:
 * a device's frames always land in the same partition, and a partition has a single active
 * consumer). A worker keeps a device's verification state (identity, epoch keys, replay window,
 * acknowledgement level) in memory while it holds the device's partition, and:
 *
 * - loads it from the store the first time it sees the device since it was (re)built, so that a
 *   worker taking over a partition continues where the previous one committed;
 * - commits, per batch and in one transaction: the new readings (deduplicated by key), the
 *   acknowledgement level and replay state of every device in the batch, and the sealed keys of
 *   the epochs the batch opened; only then are acknowledgements released to the devices;
 * - is rebuilt from the store after a failed commit (`reset`), because its memory then runs ahead
 *   of what is stored: the broker delivers the batch again and nothing is acknowledged twice or
 *   lost. A device whose state looks stale (a gap, an unknown epoch) is reloaded at its next message.
 */
import type { KeyAgreementAlgorithm, SignatureAlgorithm, Crypto } from "../../hal/contracts/crypto.js";
import type { DeviceEpochSecrets, DeviceReplayState } from "../../protocol/frame.js";
import { fromHex } from "../../protocol/bytes.js";
import { FragmentReassembler } from "../../protocol/link-framing.js";
import { Gateway, type GatewayReading } from "./gateway.js";
import { GatewayService, type ReadingSink, type ServiceCounters } from "./service.js";
import { storeSealingKey } from "./store-sqlite.js";

/** One committed unit: readings, and the state that must be stored with them. */
export interface StoreBatch {
  readings: GatewayReading[];
  ackStates?: { source: string; level: number; check: number }[];
  replayStates?: DeviceReplayState[];
  epochSecrets?: { secrets: DeviceEpochSecrets[]; key: Uint8Array };
}

/** A device's registered identity as the store keeps it (`device_keys`). */
export interface StoredIdentity {
  device: string;
  /** Hex: 65 bytes (ES256, uncompressed P-256) or 32 bytes (EdDSA). */
  identityKey: string;
  generation: number;
}

/** What the batch gateway needs of the shared store (PostgresStore; SqliteStore through an adapter). */
export interface SharedStore {
  commit(batch: StoreBatch): Promise<{ stored: number }>;
  identities(devices: string[]): Promise<StoredIdentity[]>;
  loadAckState(devices: string[]): Promise<{ source: string; level: number; check: number }[]>;
  loadReplayState(devices: string[]): Promise<DeviceReplayState[]>;
  loadEpochSecrets(key: Uint8Array, devices: string[]): Promise<DeviceEpochSecrets[]>;
}

/** One link fragment as the broker delivered it: the device is the topic's (authenticated by the broker). */
export interface InboundFragment {
  device: string;
  payload: Uint8Array;
}

export interface BatchOutcome {
  /** What goes back to devices, in order: acknowledgements and announcement requests. */
  replies: { device: string; message: Uint8Array }[];
  /** Readings this batch stored for the first time (by the store's key). */
  stored: number;
  /** Readings the batch carried that the store already held (another worker, or a redelivery). */
  alreadyStored: number;
  messages: number;
}

export interface BatchGatewayOptions {
  store: SharedStore;
  gatewayPrivateKey: Uint8Array;
  agreementAlg: KeyAgreementAlgorithm;
  crypto?: Crypto;
  /** Milliseconds (announcement-request rate limit, reload rate limit); default Date.now. */
  now?: () => number;
  /** A message acknowledged although it can never be opened. */
  onUnrecoverable?: (device: string, detail: string) => void;
}

/** A device flagged as stale is reloaded from the store at most this often (ms). */
export const RELOAD_GAP_MS = 2_000;

/** Collects a batch's readings; the same reading twice in one batch counts once. */
class BatchSink implements ReadingSink {
  readings: GatewayReading[] = [];
  private keys = new Set<string>();
  storeReadings(readings: GatewayReading[]): number {
    let fresh = 0;
    for (const r of readings) {
      const key = `${r.device}/${r.generation ?? 0}/${r.seq}`;
      if (this.keys.has(key)) continue;
      this.keys.add(key);
      this.readings.push(r);
      fresh++;
    }
    return fresh;
  }
  clear(): void {
    this.readings = [];
    this.keys = new Set();
  }
}

function signatureAlgOf(identityKeyHex: string): SignatureAlgorithm | null {
  if (identityKeyHex.length === 130) return "ES256";
  if (identityKeyHex.length === 64) return "EdDSA";
  return null;
}

export class BatchGateway {
  private gateway!: Gateway;
  private service!: GatewayService;
  private readonly sink = new BatchSink();
  private readonly sealingKey: Uint8Array;
  private readonly now: () => number;
  /** Devices whose state was loaded since the last (re)build. */
  private loaded = new Set<string>();
  /** Devices to load again at their next message, with when they were last loaded. */
  private stale = new Map<string, number>();
  /** When each device was last loaded from the store. */
  private lastLoad = new Map<string, number>();
  private reassemblers = new Map<string, FragmentReassembler>();
  private newEpochs = new Set<string>();
  /** Counters of every build, summed (a rebuild starts the service's own counters again). */
  private past: ServiceCounters | null = null;
  /** Times the in-memory state was dropped and reloaded from the store. */
  rebuilds = 0;
  reloads = 0;

  constructor(private readonly o: BatchGatewayOptions) {
    this.sealingKey = storeSealingKey(o.gatewayPrivateKey);
    this.now = o.now ?? Date.now;
    this.build();
  }

  private build(): void {
    this.gateway = new Gateway({ crypto: this.o.crypto, gatewayPrivateKey: this.o.gatewayPrivateKey, agreementAlg: this.o.agreementAlg });
    this.service = new GatewayService(this.gateway, this.sink, {
      now: this.now,
      onNewEpoch: (device) => this.newEpochs.add(device),
      onUnrecoverable: this.o.onUnrecoverable,
      // One acknowledgement per device per batch, of its latest level, sealed once the batch is
      // decided: it covers every message of the device before it.
      deferAcks: true,
    });
    this.loaded = new Set();
    this.stale = new Map();
    this.lastLoad = new Map();
    this.reassemblers = new Map();
    this.newEpochs = new Set();
    this.sink.clear();
  }

  /**
   * Forgets everything held in memory: after a failed commit (memory ran ahead of the store), or
   * when the worker's consumers start again (another worker may have advanced its devices).
   */
  reset(): void {
    this.past = this.counters();
    this.rebuilds++;
    this.build();
  }

  /** The service's counters over every build. */
  counters(): ServiceCounters {
    const c = { ...this.service.counters };
    if (this.past) for (const k of Object.keys(c) as (keyof ServiceCounters)[]) c[k] += this.past[k];
    return c;
  }

  /**
   * Verifies a batch and commits it. Resolves with what to send back to the devices once the
   * batch is stored; rejects when the commit fails, after which the caller must `reset()` and have
   * the broker deliver the batch again.
   */
  async process(fragments: readonly InboundFragment[]): Promise<BatchOutcome> {
    const fresh = await this.load(fragments);
    let replies: { device: string; message: Uint8Array }[] = [];
    const touched = new Set<string>();
    /** Devices this worker found out of date in this batch: nothing of theirs is stored or answered. */
    const outdated = new Set<string>();
    let messages = 0;
    for (const f of fragments) {
      let r = this.reassemblers.get(f.device);
      if (!r) this.reassemblers.set(f.device, (r = new FragmentReassembler()));
      const res = r.push(f.payload);
      if (res.kind !== "message") continue;
      messages++;
      touched.add(f.device);
      const d = this.service.receive(f.device, res.message);
      if (d.ack) replies.push({ device: f.device, message: d.ack });
      const reason = d.event?.kind === "rejected" ? d.event.reason : null;
      // Signs that another worker moved this device on since it was loaded: reload it.
      if (reason === "unknown-epoch" || reason === "unknown-device" || reason === "stale-epoch" || ((d.kind === "stored" || d.kind === "duplicate") && !d.ackDue)) {
        // Just loaded: the store's state is this worker's; the gap or unknown epoch is real.
        if (!fresh.has(f.device)) outdated.add(f.device);
        if (!this.stale.has(f.device)) this.stale.set(f.device, this.now());
      }
    }
    // An out-of-date worker must not write its older state over the newer one in the store, nor
    // acknowledge anything whose level it does not store: the device sends again, and by then the
    // worker has reloaded it. Its verified readings are stored (the store's key keeps them once).
    if (outdated.size) {
      for (const d of outdated) {
        touched.delete(d);
        this.newEpochs.delete(d);
      }
      replies = replies.filter((r) => !outdated.has(r.device));
    }
    for (const a of this.service.takeAcks(outdated)) replies.push(a);
    const batch: StoreBatch = {
      readings: this.sink.readings,
      ackStates: this.service.exportAckState(touched),
      replayStates: this.gateway.exportReplayState(touched),
      ...(this.newEpochs.size ? { epochSecrets: { secrets: this.gateway.exportEpochSecrets(this.newEpochs), key: this.sealingKey } } : {}),
    };
    const carried = this.sink.readings.length;
    this.sink.clear();
    this.newEpochs = new Set();
    const { stored } = await this.o.store.commit(batch);
    return { replies, stored, alreadyStored: carried - stored, messages };
  }

  /** Loads the devices of a batch seen for the first time since the last build, or flagged stale. */
  private async load(fragments: readonly InboundFragment[]): Promise<Set<string>> {
    const want: string[] = [];
    const seen = new Set<string>();
    const now = this.now();
    for (const f of fragments) {
      if (seen.has(f.device)) continue;
      seen.add(f.device);
      if (!this.loaded.has(f.device)) want.push(f.device);
      else {
        if (this.stale.has(f.device) && this.reloadDue(f.device, now)) want.push(f.device);
      }
    }
    if (want.length === 0) return new Set();
    const store = this.o.store;
    const [ids, replay, secrets, acks] = await Promise.all([store.identities(want), store.loadReplayState(want), store.loadEpochSecrets(this.sealingKey, want), store.loadAckState(want)]);
    for (const id of ids) {
      const alg = signatureAlgOf(id.identityKey);
      const key = fromHex(id.identityKey);
      if (alg === null || key === null) continue;
      this.gateway.registerDevice({ deviceId: id.device, identityPublicKey: key, signatureAlg: alg, generation: id.generation });
    }
    // Replay state first: importing it clears the device's epochs, which the secrets then restore.
    this.gateway.importReplayState(replay);
    this.gateway.importEpochSecrets(secrets);
    for (const d of want) this.service.resetSource(d);
    this.service.importAckState(acks);
    for (const d of want) {
      if (this.loaded.has(d)) this.reloads++;
      this.loaded.add(d);
      this.lastLoad.set(d, now);
      this.stale.delete(d);
    }
    return new Set(want);
  }

  private reloadDue(device: string, now: number): boolean {
    return now - (this.lastLoad.get(device) ?? -Infinity) >= RELOAD_GAP_MS;
  }
}
