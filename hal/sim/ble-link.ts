import type { FrameLink, StandardCharacteristic } from "../contracts/link.js";
import type { Timers, TimerId } from "../contracts/timer.js";

/** Default ATT MTU before an exchange (Bluetooth Core): 23 bytes, so 20-byte notifications. */
export const BLE_DEFAULT_ATT_MTU = 23;
/** Largest ATT MTU the protocol allows. */
export const BLE_MAX_ATT_MTU = 517;
const ATT_HEADER = 3;

export interface SimBleLinkOptions {
  timers: Timers;
  /** Connection interval in ms (default 30). */
  connectionIntervalMs?: number;
  /** Notifications the central accepts per connection event (default 4). */
  notificationsPerEvent?: number;
  /** Device-side notification queue capacity; `notify` returns false when it is full (default 16). */
  notifyQueueCapacity?: number;
  /** Central-side write queue capacity; `write` returns false when it is full (default 16). */
  writeQueueCapacity?: number;
  /** Largest ATT MTU the device accepts in an MTU exchange (default 247). */
  deviceMaxMtu?: number;
  /** MTU the central asks for when `connect()` is called without one (default 247). */
  centralMtu?: number;
  /**
   * Standard services (heart rate, thermometer, battery, device information) readable without
   * an encrypted, bonded link (default false: a central must pair first, as bleservices require).
   */
  standardServicesOpen?: boolean;
  /** Seeded random disconnects: mean time between drops while connected, and how long until the central reconnects. */
  randomDrops?: { meanIntervalMs: number; reconnectAfterMs: number; seed: number };
}

export type CharacteristicReadResult = { ok: true; value: Uint8Array } | { ok: false; error: "not-connected" | "insufficient-authentication" | "no-value" };

/** Counters for cost and throughput figures. */
export interface BleLinkCounters {
  connectionEvents: number;
  notificationsDelivered: number;
  bytesDelivered: number;
  notificationsRejected: number;
  writesDelivered: number;
  /** Disconnects caused by `randomDrops`. */
  randomDrops: number;
  /** Standard characteristic notifications and indications delivered. */
  standardNotifications: number;
}

/** The phone or gateway side of the simulated link, driven by tests and the host. */
export interface SimBleCentral {
  readonly connected: boolean;
  /** Current ATT MTU (23 until the exchange completes). */
  readonly mtu: number;
  /** Connects and subscribes; asks for `mtu` in an MTU exchange after the connection is up. */
  connect(mtu?: number): void;
  disconnect(): void;
  /** Write to the device's command characteristic; false when not connected, too long or the queue is full. */
  write(payload: Uint8Array): boolean;
  onNotify: ((payload: Uint8Array) => void) | null;
  /** Pairs (Just Works) and bonds: the link is encrypted now and on every later connection. */
  pair(): boolean;
  readonly bonded: boolean;
  readonly encrypted: boolean;
  /** Reads a standard characteristic; refused on an unencrypted link unless the services are open. */
  read(name: StandardCharacteristic): CharacteristicReadResult;
  /** Subscribes to notifications (heart rate) or indications (temperature) of a standard characteristic. */
  subscribe(name: StandardCharacteristic): CharacteristicReadResult;
  onCharacteristic: ((name: StandardCharacteristic, value: Uint8Array) => void) | null;
}

type LinkState = "idle" | "connecting" | "connected";

/**
 * Simulated BLE link between the device's GATT server and one central.
 *
 * Everything moves at connection events, on the virtual clock: `connect()` takes effect at the
 * first event (the device sees `onConnectionChange(true)` with ATT MTU 23), the MTU exchange
 * completes at the next one (e.g. 247 gives 244-byte payloads), and at each event the central's
 * queued writes reach `onWrite` and at most `notificationsPerEvent` queued notifications reach
 * `onNotify`. `notify` copies the payload into a bounded queue and returns false when the link is
 * down, the payload exceeds `maxPayload`, or the queue is full. A disconnect drops both queues
 * and reaches the device through a zero-delay timer.
 */
export class SimBleLink {
  readonly device: FrameLink;
  readonly central: SimBleCentral;
  readonly counters: BleLinkCounters = {
    connectionEvents: 0,
    notificationsDelivered: 0,
    bytesDelivered: 0,
    notificationsRejected: 0,
    writesDelivered: 0,
    randomDrops: 0,
    standardNotifications: 0,
  };
  readonly connectionIntervalMs: number;
  readonly notificationsPerEvent: number;
  readonly notifyQueueCapacity: number;
  readonly writeQueueCapacity: number;
  readonly deviceMaxMtu: number;
  readonly defaultCentralMtu: number;

  private readonly timers: Timers;
  private state: LinkState = "idle";
  private attMtu = BLE_DEFAULT_ATT_MTU;
  private requestedMtu = BLE_DEFAULT_ATT_MTU;
  private eventTimer: TimerId | null = null;
  private readonly notifications: Uint8Array[] = [];
  private readonly writes: Uint8Array[] = [];
  readonly standardServicesOpen: boolean;
  private isBonded = false;
  private isEncrypted = false;
  private readonly values = new Map<StandardCharacteristic, Uint8Array>();
  private readonly subscriptions = new Set<StandardCharacteristic>();
  private readonly standardQueue: { name: StandardCharacteristic; value: Uint8Array }[] = [];
  private readonly drops: { meanIntervalMs: number; reconnectAfterMs: number } | null;
  private dropSeed: number;

  constructor(options: SimBleLinkOptions) {
    this.timers = options.timers;
    this.connectionIntervalMs = options.connectionIntervalMs ?? 30;
    this.notificationsPerEvent = options.notificationsPerEvent ?? 4;
    this.notifyQueueCapacity = options.notifyQueueCapacity ?? 16;
    this.writeQueueCapacity = options.writeQueueCapacity ?? 16;
    this.deviceMaxMtu = clampMtu(options.deviceMaxMtu ?? 247);
    this.defaultCentralMtu = clampMtu(options.centralMtu ?? 247);
    this.standardServicesOpen = options.standardServicesOpen ?? false;
    this.drops = options.randomDrops ? { meanIntervalMs: options.randomDrops.meanIntervalMs, reconnectAfterMs: options.randomDrops.reconnectAfterMs } : null;
    this.dropSeed = (options.randomDrops?.seed ?? 1) >>> 0;
    this.device = new SimBleDevice(this);
    this.central = new SimBleCentralEnd(this);
  }

  /** Notifications per second times payload: what the link carries at most with the current MTU. */
  get throughputBytesPerSecond(): number {
    return Math.floor((this.notificationsPerEvent * (this.attMtu - ATT_HEADER) * 1000) / this.connectionIntervalMs);
  }

  get bonded(): boolean {
    return this.isBonded;
  }

  get encrypted(): boolean {
    return this.isEncrypted;
  }

  /** Forgets the bond on both sides (a factory reset, or "forget this device" on the phone). */
  forgetBond(): void {
    this.isBonded = false;
    this.isEncrypted = false;
  }

  pair(): boolean {
    if (this.state !== "connected") return false;
    this.isBonded = true;
    this.isEncrypted = true;
    return true;
  }

  /** Device side: the current value of a standard characteristic. */
  publish(name: StandardCharacteristic, value: Uint8Array): void {
    this.values.set(name, value.slice());
    if (this.state === "connected" && this.subscriptions.has(name) && this.mayAccess() && this.standardQueue.length < this.notifyQueueCapacity) {
      this.standardQueue.push({ name, value: value.slice() });
    }
  }

  read(name: StandardCharacteristic): CharacteristicReadResult {
    if (this.state !== "connected") return { ok: false, error: "not-connected" };
    if (!this.mayAccess()) return { ok: false, error: "insufficient-authentication" };
    const v = this.values.get(name);
    return v ? { ok: true, value: v.slice() } : { ok: false, error: "no-value" };
  }

  subscribe(name: StandardCharacteristic): CharacteristicReadResult {
    if (this.state !== "connected") return { ok: false, error: "not-connected" };
    if (!this.mayAccess()) return { ok: false, error: "insufficient-authentication" };
    this.subscriptions.add(name);
    const v = this.values.get(name);
    return v ? { ok: true, value: v.slice() } : { ok: false, error: "no-value" };
  }

  private mayAccess(): boolean {
    return this.standardServicesOpen || (this.isEncrypted && this.isBonded);
  }

  private nextRandom(): number {
    this.dropSeed = (Math.imul(this.dropSeed ^ (this.dropSeed >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return this.dropSeed / 4294967296;
  }

  get isConnected(): boolean {
    return this.state === "connected";
  }

  get mtu(): number {
    return this.attMtu;
  }

  /** Notifications waiting for a connection event. */
  get pendingNotifications(): number {
    return this.notifications.length;
  }

  /** Device side: queue one notification. */
  queueNotification(payload: Uint8Array): boolean {
    if (this.state !== "connected" || payload.length > this.attMtu - ATT_HEADER || this.notifications.length >= this.notifyQueueCapacity) {
      this.counters.notificationsRejected++;
      return false;
    }
    this.notifications.push(payload.slice());
    return true;
  }

  /** Central side: queue one write. */
  queueWrite(payload: Uint8Array): boolean {
    if (this.state !== "connected" || payload.length > this.attMtu - ATT_HEADER || this.writes.length >= this.writeQueueCapacity) return false;
    this.writes.push(payload.slice());
    return true;
  }

  connect(mtu?: number): void {
    if (this.state !== "idle") return;
    this.requestedMtu = clampMtu(mtu ?? this.defaultCentralMtu);
    this.state = "connecting";
    this.attMtu = BLE_DEFAULT_ATT_MTU;
    this.eventTimer = this.timers.repeat(() => this.connectionEvent(), this.connectionIntervalMs);
  }

  disconnect(): void {
    if (this.state === "idle") return;
    const wasConnected = this.state === "connected";
    if (this.eventTimer !== null) this.timers.clear(this.eventTimer);
    this.eventTimer = null;
    this.state = "idle";
    this.attMtu = BLE_DEFAULT_ATT_MTU;
    this.notifications.length = 0;
    this.writes.length = 0;
    this.isEncrypted = false;
    this.subscriptions.clear();
    this.standardQueue.length = 0;
    if (wasConnected) {
      this.timers.set(() => {
        const device = this.device;
        if (device.onConnectionChange) device.onConnectionChange(false);
      }, 0);
    }
  }

  private connectionEvent(): void {
    this.counters.connectionEvents++;
    if (this.state === "connecting") {
      this.state = "connected";
      // A bonded pair re-encrypts with its stored key at once.
      this.isEncrypted = this.isBonded;
      const device = this.device;
      if (device.onConnectionChange) device.onConnectionChange(true);
      return;
    }
    if (this.state !== "connected") return;
    if (this.drops && this.nextRandom() < this.connectionIntervalMs / this.drops.meanIntervalMs) {
      this.counters.randomDrops++;
      const mtu = this.requestedMtu;
      this.disconnect();
      this.timers.set(() => {
        if (this.state === "idle") this.connect(mtu);
      }, this.drops.reconnectAfterMs);
      return;
    }
    if (this.attMtu === BLE_DEFAULT_ATT_MTU && this.requestedMtu > BLE_DEFAULT_ATT_MTU) {
      this.attMtu = Math.min(this.requestedMtu, this.deviceMaxMtu);
    }
    while (this.writes.length > 0 && this.state === "connected") {
      const payload = this.writes.shift() as Uint8Array;
      this.counters.writesDelivered++;
      const onWrite = this.device.onWrite;
      if (onWrite) onWrite(payload);
    }
    while (this.standardQueue.length > 0 && this.state === "connected") {
      const s = this.standardQueue.shift() as { name: StandardCharacteristic; value: Uint8Array };
      this.counters.standardNotifications++;
      const onCharacteristic = this.central.onCharacteristic;
      if (onCharacteristic) onCharacteristic(s.name, s.value);
    }
    for (let i = 0; i < this.notificationsPerEvent && this.notifications.length > 0 && this.state === "connected"; i++) {
      const payload = this.notifications.shift() as Uint8Array;
      this.counters.notificationsDelivered++;
      this.counters.bytesDelivered += payload.length;
      const onNotify = this.central.onNotify;
      if (onNotify) onNotify(payload);
    }
  }
}

function clampMtu(mtu: number): number {
  if (!Number.isInteger(mtu) || mtu < BLE_DEFAULT_ATT_MTU) return BLE_DEFAULT_ATT_MTU;
  return mtu > BLE_MAX_ATT_MTU ? BLE_MAX_ATT_MTU : mtu;
}

/** The firmware's view of the link (the GATT server). */
class SimBleDevice implements FrameLink {
  onWrite: ((payload: Uint8Array) => void) | null = null;
  onConnectionChange: ((connected: boolean) => void) | null = null;

  constructor(private readonly link: SimBleLink) {}

  get connected(): boolean {
    return this.link.isConnected;
  }

  get maxPayload(): number {
    return this.link.mtu - ATT_HEADER;
  }

  notify(payload: Uint8Array): boolean {
    return this.link.queueNotification(payload);
  }

  publishCharacteristic(name: StandardCharacteristic, value: Uint8Array): void {
    this.link.publish(name, value);
  }
}

class SimBleCentralEnd implements SimBleCentral {
  onNotify: ((payload: Uint8Array) => void) | null = null;
  onCharacteristic: ((name: StandardCharacteristic, value: Uint8Array) => void) | null = null;

  get bonded(): boolean {
    return this.link.bonded;
  }

  get encrypted(): boolean {
    return this.link.encrypted;
  }

  pair(): boolean {
    return this.link.pair();
  }

  read(name: StandardCharacteristic): CharacteristicReadResult {
    return this.link.read(name);
  }

  subscribe(name: StandardCharacteristic): CharacteristicReadResult {
    return this.link.subscribe(name);
  }

  constructor(private readonly link: SimBleLink) {}

  get connected(): boolean {
    return this.link.isConnected;
  }

  get mtu(): number {
    return this.link.mtu;
  }

  connect(mtu?: number): void {
    this.link.connect(mtu);
  }

  disconnect(): void {
    this.link.disconnect();
  }

  write(payload: Uint8Array): boolean {
    return this.link.queueWrite(payload);
  }
}
