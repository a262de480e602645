import type { FrameLink } from "../contracts/link.js";
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
}

/** Counters for cost and throughput figures. */
export interface BleLinkCounters {
  connectionEvents: number;
  notificationsDelivered: number;
  bytesDelivered: number;
  notificationsRejected: number;
  writesDelivered: number;
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

  constructor(options: SimBleLinkOptions) {
    this.timers = options.timers;
    this.connectionIntervalMs = options.connectionIntervalMs ?? 30;
    this.notificationsPerEvent = options.notificationsPerEvent ?? 4;
    this.notifyQueueCapacity = options.notifyQueueCapacity ?? 16;
    this.writeQueueCapacity = options.writeQueueCapacity ?? 16;
    this.deviceMaxMtu = clampMtu(options.deviceMaxMtu ?? 247);
    this.defaultCentralMtu = clampMtu(options.centralMtu ?? 247);
    this.device = new SimBleDevice(this);
    this.central = new SimBleCentralEnd(this);
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
      const device = this.device;
      if (device.onConnectionChange) device.onConnectionChange(true);
      return;
    }
    if (this.state !== "connected") return;
    if (this.attMtu === BLE_DEFAULT_ATT_MTU && this.requestedMtu > BLE_DEFAULT_ATT_MTU) {
      this.attMtu = Math.min(this.requestedMtu, this.deviceMaxMtu);
    }
    while (this.writes.length > 0 && this.state === "connected") {
      const payload = this.writes.shift() as Uint8Array;
      this.counters.writesDelivered++;
      const onWrite = this.device.onWrite;
      if (onWrite) onWrite(payload);
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
}

class SimBleCentralEnd implements SimBleCentral {
  onNotify: ((payload: Uint8Array) => void) | null = null;

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
