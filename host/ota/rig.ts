/**
 * A bench for the update path without the rest of the firmware: the update agent and the
 * boot-slot model over a NOR flash with the ESP32's partition layout, a Preference store with the
 * trust store, a virtual clock, and signed test releases. `ota sweep` and the update tests run
 * on it (on Node).
 */
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { NorFlash, PowerCutError } from "../../hal/sim/nor-flash.js";
import { SimPreferenceStore } from "../../hal/sim/preference-store.js";
import { VirtualClock } from "../../hal/sim/virtual-clock.js";
import { SimUpdateSlots, installFactoryImage, runBootloader, readBootImage, type BootDecision, type BootPartitions } from "../../hal/sim/boot-slots.js";
import { UpdateAgent, type UpdateReport } from "../../firmware/update/update-agent.js";
import { UPDATE_DOMAIN, UPDATE_KEYS } from "../../protocol/settings.js";
import { CLASS_ID, VENDOR_ID } from "../../protocol/device-class.js";
import { storeRoleKey } from "../../firmware/security/trust.js";
import { signManifest, type UpdateManifest } from "../../protocol/update-manifest.js";
import { bytesEqual } from "../../protocol/bytes.js";
import { seededBytes } from "../sim/sim-keys.js";

/** The ESP32 partition table of sdkconfig/partitions.csv (the parts an update touches). */
export const PARTITIONS = {
  otadata: { offset: 0xd000, size: 0x2000 },
  ota_0: { offset: 0x10000, size: 0x1c0000 },
  ota_1: { offset: 0x1d0000, size: 0x1c0000 },
} as const;
export const FLASH_BYTES = 0x400000;

export function bootPartitions(flash: NorFlash): BootPartitions {
  return {
    otadata: flash.partition(PARTITIONS.otadata.offset, PARTITIONS.otadata.size),
    slots: [flash.partition(PARTITIONS.ota_0.offset, PARTITIONS.ota_0.size), flash.partition(PARTITIONS.ota_1.offset, PARTITIONS.ota_1.size)],
  };
}

export interface TestRelease {
  image: Uint8Array;
  manifest: UpdateManifest;
  signed: Uint8Array;
}

export interface ReleaseSigner {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
  crypto: NobleCrypto;
  sign(m: Partial<UpdateManifest> & { image: Uint8Array; sequence: number; version: string }): TestRelease;
}

/** A release key derived from `label` (TEST KEY). */
export function testSigner(label = "release"): ReleaseSigner {
  const crypto = new NobleCrypto(seededBytes(1, `ota-test-${label}`));
  const kp = crypto.signatureKeyPair("ES256");
  return {
    ...kp,
    crypto,
    sign(o) {
      const manifest: UpdateManifest = {
        sequence: o.sequence,
        vendorId: o.vendorId ?? VENDOR_ID,
        classId: o.classId ?? CLASS_ID,
        version: o.version,
        imageSize: o.imageSize ?? o.image.length,
        imageDigest: o.imageDigest ?? crypto.sha256(o.image),
        minBatteryPercent: o.minBatteryPercent ?? 0,
        imageName: o.imageName ?? null,
      };
      return { image: o.image, manifest, signed: signManifest({ crypto, alg: "ES256", privateKey: kp.privateKey, publicKey: kp.publicKey, manifest }) };
    },
  };
}

/** Deterministic pseudo-random image bytes. */
export function testImage(length: number, label: string): Uint8Array {
  return seededBytes(7, `image-${label}`)(length);
}

export interface RigBoot {
  decision: BootDecision;
  slots: SimUpdateSlots;
  agent: UpdateAgent;
  clock: VirtualClock;
  reports: UpdateReport[];
  security: { kind: string; detail: string }[];
  restartRequested: "restart" | "rollback" | null;
  /** The self-test and confirmation have been started on this boot. */
  checking: boolean;
  /** Release whose image booted (null: an image no release signed). */
  running: TestRelease | null;
}

export interface RigOptions {
  signer?: ReleaseSigner;
  factory: TestRelease;
  /** Releases the rig recognises when it boots an image (the factory one is always known). */
  known?: TestRelease[];
  battery?: number;
  /** Releases whose self-test never passes (they must roll back). */
  failing?: TestRelease[];
}

/** One device on the bench: flash, store, and whatever image the bootloader picks. */
export class UpdateRig {
  readonly flash = new NorFlash({ byteLength: FLASH_BYTES, seed: 5 });
  readonly parts = bootPartitions(this.flash);
  readonly store = new SimPreferenceStore();
  readonly crypto = new NobleCrypto(seededBytes(3, "ota-rig"));
  readonly signer: ReleaseSigner;
  readonly known: TestRelease[];
  readonly failing: TestRelease[];
  battery: number;
  boot: RigBoot | null = null;
  boots = 0;

  constructor(o: RigOptions) {
    this.signer = o.signer ?? testSigner();
    this.known = [o.factory, ...(o.known ?? []), ...(o.failing ?? [])];
    this.failing = o.failing ?? [];
    this.battery = o.battery ?? 80;
    storeRoleKey(this.store, "release", { publicKey: this.signer.publicKey, alg: "ES256" });
    installFactoryImage(this.parts, o.factory.image, (d) => this.crypto.sha256(d));
    this.flash.counters.operations = 0;
  }

  /** Power on (or reset): the bootloader picks an image, the "firmware" starts its update agent. */
  powerOn(): RigBoot {
    // Power returns after a cut (an armed cut that has not fired yet stays armed).
    if (!this.flash.poweredOn) this.flash.restorePower();
    this.boots++;
    const sha = () => this.crypto.sha256Stream();
    const decision = runBootloader(this.parts, sha);
    const image = readBootImage(this.parts, decision) ?? this.known[0].image;
    const running = this.known.find((r) => r.image.length === image.length && bytesEqual(r.image, image)) ?? null;
    const clock = new VirtualClock();
    const reports: UpdateReport[] = [];
    const security: { kind: string; detail: string }[] = [];
    const boot: RigBoot = { decision, slots: null as unknown as SimUpdateSlots, agent: null as unknown as UpdateAgent, clock, reports, security, restartRequested: null, checking: false, running };
    boot.slots = new SimUpdateSlots({ partitions: this.parts, boot: decision, sha256Stream: sha, restart: (why) => (boot.restartRequested = why) });
    boot.agent = new UpdateAgent({
      crypto: this.crypto,
      store: this.store,
      slots: boot.slots,
      slotCapacity: boot.slots.slotCapacity,
      timers: clock,
      log: { log: () => {} },
      security: { record: (kind, detail) => security.push({ kind, detail }) },
      identity: { vendorId: VENDOR_ID, classId: CLASS_ID },
      running: { version: running ? running.manifest.version : "unknown", sequence: running ? running.manifest.sequence : 0 },
      batteryPercent: () => this.battery,
      report: (r) => reports.push(r),
      restartDelayMs: 100,
      // A power cut stops the device where it is: nothing runs after it (the download's progress stays).
      passThrough: (e) => e instanceof PowerCutError,
    });
    this.boot = boot;
    return boot;
  }

  /** Anti-rollback floor stored on the device. */
  storedFloor(): number {
    const v = this.store.get(UPDATE_DOMAIN, UPDATE_KEYS.floor);
    return typeof v === "number" ? v : 0;
  }

  /**
   * Sends a release through the agent in `chunk`-byte pieces, from the offset the agent resumes
   * at; returns the agent's last verdict, or "power-cut" when the flash lost its power.
   */
  deliver(r: TestRelease, chunk = 512, image = r.image): string {
    const agent = this.boot!.agent;
    try {
      const offer = agent.offer(r.signed);
      if (!offer.ok) return offer.reason;
      for (let off = agent.status.offset; off < image.length; off += chunk) {
        const c = agent.chunk(off, image.subarray(off, Math.min(off + chunk, image.length)));
        if (!c.ok) return c.reason;
      }
      const f = agent.finish();
      return f.ok ? "ok" : f.reason;
    } catch (e) {
      if (e instanceof PowerCutError) return "power-cut";
      throw e;
    }
  }

  /**
   * Lets the booted firmware run: its self-test passes after `selfTestPassesAfterMs` (never when
   * negative) and it confirms; a restart it asks for is carried out. Stops after `ms` of virtual
   * time per boot or `maxBoots` boots. A power cut (flash error) resets the board.
   */
  run(ms: number, selfTestPassesAfterMs = 1000, maxBoots = 4): void {
    for (let boots = 0; boots < maxBoots; boots++) {
      let b: RigBoot;
      try {
        b = this.boot ?? this.powerOn();
      } catch (e) {
        if (!(e instanceof PowerCutError)) throw e;
        this.boot = null;
        continue;
      }
      const broken = b.running !== null && this.failing.includes(b.running);
      if (!b.checking) b.agent.startBootCheck(() => ({ ok: !broken && selfTestPassesAfterMs >= 0 && b.clock.ticks() >= selfTestPassesAfterMs, failing: "test" }), 1000, 10_000);
      b.checking = true;
      const until = b.clock.ticks() + ms;
      try {
        while (b.clock.ticks() < until && !b.restartRequested && this.flash.poweredOn) {
          const next = b.clock.nextDueIn();
          if (next === null) break;
          b.clock.advance(Math.max(1, next));
        }
      } catch (e) {
        if (!(e instanceof PowerCutError)) throw e;
      }
      if (!b.restartRequested && this.flash.poweredOn) return;
      this.boot = null;
    }
  }
}
