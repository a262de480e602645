/**
 * The shared store as the batch gateway sees it (host/gateway/batch-gateway.ts `SharedStore`):
 * PostgreSQL for gateway workers on several machines, and an in-memory one with the same
 * semantics for tests of the batch logic (a failing commit can be switched on).
 */
import type { DeviceEpochSecrets, DeviceReplayState } from "../../protocol/frame.js";
import type { GatewayReading } from "./gateway.js";
import type { SharedStore, StoreBatch, StoredIdentity } from "./batch-gateway.js";
import type { PostgresStore } from "./store-postgres.js";

export interface ReadyStore extends SharedStore {
  /** Resolves when the store answers again (after a failed commit), polling with backoff, or as soon as `stop()` says so. */
  ready(stop?: () => boolean): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** PostgreSQL as the workers' shared store. */
export function sharedStoreOf(store: PostgresStore): ReadyStore {
  return {
    commit: (batch) => store.commit(batch),
    identities: (devices) => store.identities(devices),
    loadAckState: (devices) => store.loadAckState(devices),
    loadReplayState: (devices) => store.loadReplayState(devices),
    loadEpochSecrets: (key, devices) => store.loadEpochSecrets(key, devices),
    async ready(stop) {
      let delay = 250;
      while (!stop?.()) {
        try {
          await store.loadAckState([]);
          return;
        } catch {
          await sleep(delay);
          delay = Math.min(2_000, delay * 2);
        }
      }
    },
  };
}

/**
 * A shared store in memory: the same keys and the same all-or-nothing commit as PostgreSQL.
 * `failing` makes commits (and loads) reject, as a database that went away.
 */
export class MemorySharedStore implements ReadyStore {
  readonly readings = new Map<string, GatewayReading>();
  readonly acks = new Map<string, { source: string; level: number; check: number }>();
  readonly replay = new Map<string, DeviceReplayState>();
  /** Epoch secrets per device, kept as given (the real stores seal them). */
  readonly secrets = new Map<string, DeviceEpochSecrets>();
  readonly ids = new Map<string, StoredIdentity>();
  failing = false;
  commits = 0;

  register(device: string, identityKey: string, generation = 0): void {
    this.ids.set(device, { device, identityKey, generation });
  }

  private check(): void {
    if (this.failing) throw new Error("the store is unreachable");
  }

  async commit(batch: StoreBatch): Promise<{ stored: number }> {
    await Promise.resolve();
    this.check();
    let stored = 0;
    for (const r of batch.readings) {
      const key = `${r.device}/${r.generation ?? 0}/${r.seq}`;
      if (this.readings.has(key)) continue;
      this.readings.set(key, r);
      stored++;
    }
    for (const a of batch.ackStates ?? []) this.acks.set(a.source, { ...a });
    for (const s of batch.replayStates ?? []) this.replay.set(s.deviceId, { ...s });
    for (const s of batch.epochSecrets?.secrets ?? []) this.secrets.set(s.deviceId, s);
    this.commits++;
    return { stored };
  }

  async identities(devices: string[]): Promise<StoredIdentity[]> {
    this.check();
    return devices.flatMap((d) => (this.ids.has(d) ? [this.ids.get(d)!] : []));
  }

  async loadAckState(devices: string[]) {
    this.check();
    return devices.flatMap((d) => (this.acks.has(d) ? [{ ...this.acks.get(d)! }] : []));
  }

  async loadReplayState(devices: string[]) {
    this.check();
    return devices.flatMap((d) => (this.replay.has(d) ? [{ ...this.replay.get(d)! }] : []));
  }

  async loadEpochSecrets(_key: Uint8Array, devices: string[]) {
    this.check();
    return devices.flatMap((d) => (this.secrets.has(d) ? [this.secrets.get(d)!] : []));
  }

  async ready(stop?: () => boolean): Promise<void> {
    while (this.failing && !stop?.()) await sleep(10);
  }
}
