/**
 * The simulator's update path, composed: the boot-slot model over the board's flash (otadata,
 * ota_0, ota_1), the update agent, the update characteristic (a second GATT characteristic on the
 * BLE connection, modelled as its own link with the same timing), the HTTP downloader over the
 * host's Wi-Fi stand-in, the self-test that confirms a new image, and a task watchdog in virtual
 * time. Also: the board's persistent state (Preference store, flash cells, the bootloader's
 * decision) as bytes, so that the host can boot a fresh engine from it, with the wearer, who is
 * not the board's and goes on through the reset (the run's time, the scenario chosen).
 */
import type { Crypto } from "../hal/contracts/crypto.js";
import type { FlashPartition } from "../hal/contracts/flash.js";
import type { Log } from "../hal/contracts/log.js";
import type { PreferenceValue } from "../hal/contracts/store.js";
import { SimBleLink } from "../hal/sim/ble-link.js";
import { PowerCutError } from "../hal/sim/nor-flash.js";
import type { SimWearerState, VirtualBoard } from "../hal/sim/board.js";
import { SimUpdateSlots, runBootloader, type BootDecision, type BootPartitions, type OtaImageState } from "../hal/sim/boot-slots.js";
import { loadCredentials } from "../firmware/security/credentials.js";
import { HttpUpdateDownloader, type RangeClient } from "../firmware/update/http-download.js";
import { CLASS_ID, FACTORY_SEQUENCE, VENDOR_ID } from "../protocol/device-class.js";
import { updateSelfTest, type SelfTestSubject } from "../firmware/update/self-test.js";
import { signedReporter } from "../firmware/update/status-reporter.js";
import { UpdateTransferHandler } from "../firmware/update/transfer.js";
import { UpdateAgent, type SecurityEvents } from "../firmware/update/update-agent.js";
import { toHex as bytesToHex, hexToBytes, utf8DecodeOrThrow as utf8Decode, utf8Encode } from "../protocol/bytes.js";

/** What a release stamped into the image that runs (absent: the factory build). */
export interface SimImageStamp {
  version: string;
  sequence: number;
  /** A test fault built into the image: "crash" at start, "hang" before confirming, failing "self-test". */
  fault: string | null;
}

export interface SimUpdateBridge {
  /** A notification on the update characteristic. */
  updateNotify?(payload: Uint8Array): void;
  /** An HTTP GET the device's Wi-Fi makes; answered later with `httpResponse`. */
  httpGet?(id: number, url: string, start: number, end: number, maxBytes: number): void;
}

export type ResetReason = "restart" | "rollback" | "watchdog" | "power-cut";

export interface SimUpdateStatus {
  /** Set when the board must reset: the host boots it again from its persistent state. */
  resetRequest: ResetReason | null;
  runningSlot: number;
  runningState: OtaImageState | "factory";
  runningSequence: number;
  floor: number;
  agent: string;
  offset: number;
  /** Bytes of the download recorded as durably written (where it resumes after a reset). */
  durableOffset: number;
  /** Downloads this boot resumed from their durable offset. */
  resumed: number;
}

/** Task watchdog timeout (virtual ms): a firmware that stops feeding it is reset. */
export const WATCHDOG_MS = 10_000;
/** A new image that has not passed its self-test by then rolls back. */
export const SELF_TEST_DEADLINE_MS = 30_000;

export function bootPartitionsOf(board: VirtualBoard): BootPartitions {
  const need = (name: string): FlashPartition => {
    const p = board.partition(name);
    if (!p) throw new Error(`the board has no ${name} partition`);
    return p;
  };
  return { otadata: need("otadata"), slots: [need("ota_0"), need("ota_1")] };
}

export interface SimUpdateStackOptions {
  board: VirtualBoard;
  firmware: SelfTestSubject & {
    securityLog?: SecurityEvents;
    /** Seals a signed status report under the open epoch and queues it to the gateway (WearableFirmware.sendStatusReport). */
    sendStatusReport?(signed: Uint8Array): boolean;
  };
  crypto: Crypto;
  log: Log;
  image: SimImageStamp | null;
  firmwareVersion: string;
  bridge: SimUpdateBridge;
  /** The bootloader's decision when the host booted this image; null: decide now (first power-on). */
  boot: BootDecision | null;
}

export class SimUpdateStack {
  readonly channel: SimBleLink;
  readonly slots: SimUpdateSlots;
  readonly agent: UpdateAgent;
  readonly boot: BootDecision;
  resetRequest: ResetReason | null = null;
  private readonly http = new Map<number, (status: number, body: Uint8Array | null) => void>();
  private nextHttpId = 1;
  private lastFeed = 0;
  private readonly fault: string | null;
  private otadataCutArmed = false;

  /** Arms a power cut at the next otadata erase or write (activation, confirmation, rollback). */
  cutPowerAtNextOtadataOperation(): void {
    this.otadataCutArmed = true;
  }

  constructor(private readonly o: SimUpdateStackOptions) {
    this.fault = o.image?.fault ?? null;
    // A test image that crashes while starting (release --test-fault crash).
    if (this.fault === "crash") throw new Error(`test image ${o.firmwareVersion} crashed at start`);
    const board = o.board;
    const parts = bootPartitionsOf(board);
    const sha256Stream = () => o.crypto.sha256Stream();
    this.boot = o.boot ?? runBootloader(parts, sha256Stream);
    const otadata = parts.otadata;
    const beforeOtadataOp = () => {
      if (!this.otadataCutArmed) return;
      this.otadataCutArmed = false;
      board.flash.cutPowerAtOperation(board.flash.counters.operations);
    };
    this.slots = new SimUpdateSlots({
      partitions: {
        slots: parts.slots,
        otadata: {
          byteLength: otadata.byteLength,
          blockLength: otadata.blockLength,
          read: (offset, target) => otadata.read(offset, target),
          write: (offset, data) => {
            beforeOtadataOp();
            otadata.write(offset, data);
          },
          eraseBlocks: (first, end) => {
            beforeOtadataOp();
            otadata.eraseBlocks(first, end);
          },
        },
      },
      boot: this.boot,
      sha256Stream,
      restart: (why) => {
        this.resetRequest ??= why;
      },
    });
    // Writes without response: up to 64 queued chunks reach the device at the next connection event.
    this.channel = new SimBleLink({ timers: board.clock, writeQueueCapacity: 64 });
    this.channel.central.onNotify = (p) => o.bridge.updateNotify?.(p);
    const security: SecurityEvents | null = o.firmware.securityLog ?? null;
    this.agent = new UpdateAgent({
      crypto: o.crypto,
      store: board.store,
      slots: this.slots,
      slotCapacity: this.slots.slotCapacity,
      timers: board.clock,
      log: o.log,
      security,
      identity: { vendorId: VENDOR_ID, classId: CLASS_ID },
      running: { version: o.firmwareVersion, sequence: o.image ? o.image.sequence : FACTORY_SEQUENCE },
      batteryPercent: () => Math.floor(board.battery.state().percent),
      passThrough: (e) => e instanceof PowerCutError,
      // Signed, then sealed by the firmware under the open epoch's key and queued to the gateway.
      report: signedReporter(o.crypto, () => { const c = loadCredentials(board.store); return c.ok ? c.credentials : null; }, o.firmwareVersion, (m) => o.firmware.sendStatusReport?.(m)),
    });
    const client: RangeClient = {
      get: (url, start, end, maxBytes, done) => {
        if (!o.bridge.httpGet) {
          board.clock.set(() => done(0, null), 0);
          return;
        }
        const id = this.nextHttpId++;
        this.http.set(id, done);
        o.bridge.httpGet(id, url, start, end, maxBytes);
      },
    };
    new UpdateTransferHandler(this.agent, this.channel.device, new HttpUpdateDownloader(this.agent, client, board.clock, o.log));
  }

  /** After the firmware started: the update characteristic comes up, the self-test and the watchdog run. */
  start(mtu: number): void {
    const { board } = this.o;
    this.channel.central.connect(mtu);
    this.lastFeed = board.clock.ticks();
    if (this.fault !== "hang") {
      // The firmware's main loop feeds the watchdog; a hung image does not, and never confirms.
      board.clock.repeat(() => (this.lastFeed = board.clock.ticks()), 1000);
      const selfTest = updateSelfTest(this.o.firmware, board.store, board.link.device, this.fault);
      this.agent.startBootCheck(selfTest, 1000, SELF_TEST_DEADLINE_MS);
    }
    board.clock.repeat(() => {
      if (board.clock.ticks() - this.lastFeed > WATCHDOG_MS) this.resetRequest ??= "watchdog";
    }, 1000);
  }

  /**
   * The power went while an update was on its way (download, install, first boot): the board must
   * come back through the bootloader, so the host resets it from its persistent state.
   */
  powerCut(): void {
    if (this.agent.status.state !== "idle" || this.slots.runningState() === "pending-verify") this.resetRequest ??= "power-cut";
  }

  /** The host's answer to an `httpGet`: delivered on the device's clock. */
  httpResponse(id: number, status: number, body: Uint8Array | null): void {
    const done = this.http.get(id);
    if (!done) return;
    this.http.delete(id);
    try {
      done(status, body);
    } catch (e) {
      // The power went while the device handled the response: it stops there; the next
      // `advance` restarts the board (SimSession.advance).
      if (!(e instanceof PowerCutError)) throw e;
    }
  }

  status(): SimUpdateStatus {
    const s = this.agent.status;
    return {
      resetRequest: this.resetRequest,
      runningSlot: this.slots.runningSlot,
      runningState: this.slots.runningState(),
      runningSequence: this.o.image ? this.o.image.sequence : FACTORY_SEQUENCE,
      floor: this.agent.floor(),
      agent: s.state,
      offset: s.offset,
      durableOffset: s.durableOffset,
      resumed: this.agent.counters.resumed,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Persistent state across a reset: the Preference store, the flash cells, the boot decision; and
// the wearer, who carries on.

export interface PersistedBoard {
  store: [string, [string, PreferenceValue][]][];
  flashCells: Uint8Array;
  flashOperations: number;
  boot: BootDecision | null;
  /** The wearer at the reset (not the board's state: the body goes on); null: a new run. */
  wearer: SimWearerState | null;
}

type JsonValue = number | string | boolean | { hex: string };

function decisionToJson(d: BootDecision | null): unknown {
  if (!d) return null;
  return { ...d, entry: d.entry ? { ...d.entry, digestPrefix: bytesToHex(d.entry.digestPrefix) } : null };
}

function decisionFromJson(j: unknown): BootDecision | null {
  if (!j) return null;
  const d = j as BootDecision & { entry: (Omit<NonNullable<BootDecision["entry"]>, "digestPrefix"> & { digestPrefix: string }) | null };
  return { ...d, entry: d.entry ? { ...d.entry, digestPrefix: hexToBytes(d.entry.digestPrefix) } : null };
}

/** [u32 LE length of the JSON][JSON: store, flash operation count, boot decision, wearer][flash cells]. */
export function encodePersisted(p: PersistedBoard): Uint8Array {
  const store = p.store.map(([domain, entries]) => [domain, entries.map(([k, v]) => [k, v instanceof ArrayBuffer ? { hex: bytesToHex(new Uint8Array(v)) } : v])]);
  const json = utf8Encode(JSON.stringify({ store, flashOperations: p.flashOperations, boot: decisionToJson(p.boot), wearer: p.wearer }));
  const out = new Uint8Array(4 + json.length + p.flashCells.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  out.set(p.flashCells, 4 + json.length);
  return out;
}

export function decodePersisted(bytes: Uint8Array): PersistedBoard {
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  const j = JSON.parse(utf8Decode(bytes.subarray(4, 4 + n))) as { store: [string, [string, JsonValue][]][]; flashOperations: number; boot: unknown; wearer?: SimWearerState | null };
  const store = j.store.map(([domain, entries]) => [domain, entries.map(([k, v]) => [k, typeof v === "object" ? (hexToBytes(v.hex).slice().buffer as ArrayBuffer) : v])] as [string, [string, PreferenceValue][]]);
  return { store, flashCells: bytes.subarray(4 + n), flashOperations: j.flashOperations, boot: decisionFromJson(j.boot), wearer: j.wearer ?? null };
}

export function persistBoard(board: VirtualBoard, boot: BootDecision | null): PersistedBoard {
  const snap = board.store.snapshot();
  const store: [string, [string, PreferenceValue][]][] = [];
  for (const [domain, m] of snap.domains) store.push([domain, [...m.entries()]]);
  return { store, flashCells: board.flash.cells, flashOperations: board.flash.counters.operations, boot, wearer: board.wearerState() };
}

/** Puts the persisted store and flash back (the wearer goes to the board's constructor: `VirtualBoardOptions.wearer`). */
export function restoreBoard(board: VirtualBoard, p: PersistedBoard): void {
  const domains = new Map<string, Map<string, PreferenceValue>>();
  for (const [domain, entries] of p.store) domains.set(domain, new Map(entries));
  board.store.restore({ domains });
  board.flash.cells.set(p.flashCells.subarray(0, board.flash.cells.length));
  board.flash.counters.operations = p.flashOperations;
}
