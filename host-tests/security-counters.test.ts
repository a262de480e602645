/**
 * No (key, nonce) pair ever repeats across reboots and power cuts. The firmware runs on a virtual
 * board again and again on the same persistent store; power is cut at random store writes (the
 * write itself either lands or is lost), including between a counter's reservation and the use of
 * the reserved value. To take the random source out of the argument, every boot's crypto restarts
 * from the same seed, so the ephemeral keys repeat: only the persisted epoch and frame counters
 * keep the keys and nonces apart.
 */
import assert from "node:assert/strict";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import type { Crypto, AeadAlgorithm } from "../hal/contracts/crypto.js";
import type { PreferenceStore, PreferenceValue } from "../hal/contracts/store.js";
import { VirtualBoard } from "../hal/sim/board.js";
import { WearableFirmware } from "../firmware/app.js";
import { storeCredentials } from "../firmware/security/credentials.js";
import { simKeys, seededBytes } from "../host/sim/sim-keys.js";
import { fromHex } from "../protocol/bytes.js";

class PowerLost extends Error {}

/** Forwards to the board's store until the armed write; then power is gone. */
class CuttableStore implements PreferenceStore {
  writes = 0;
  dead = false;
  constructor(
    private readonly inner: PreferenceStore,
    private readonly cutAt: number,
    private readonly landed: boolean,
  ) {}
  get(d: string, k: string) {
    if (this.dead) throw new PowerLost();
    return this.inner.get(d, k);
  }
  set(d: string, k: string, v: PreferenceValue) {
    this.write(() => this.inner.set(d, k, v));
  }
  delete(d: string, k: string) {
    this.write(() => this.inner.delete(d, k));
  }
  keys(d: string) {
    return this.inner.keys(d);
  }
  private write(op: () => void) {
    if (this.dead) throw new PowerLost();
    if (++this.writes === this.cutAt) {
      if (this.landed) op();
      this.dead = true;
      throw new PowerLost();
    }
    op();
  }
}

function recording(inner: Crypto, seen: Map<string, string>, counts: { seals: number; repeats: string[] }): Crypto {
  return Object.assign(Object.create(inner) as Crypto, {
    aeadSeal(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array) {
      const id = Buffer.from(key).toString("hex") + "/" + Buffer.from(nonce).toString("hex");
      counts.seals++;
      if (seen.has(id)) counts.repeats.push(id);
      seen.set(id, alg);
      return inner.aeadSeal(alg, key, nonce, aad, pt);
    },
  });
}

describe("counters across reboots and power cuts", function () {
  this.timeout(120_000);

  it("no (key, nonce) pair repeats over 80 boots with random power cuts", () => {
    const keys = simKeys(3);
    const board = new VirtualBoard({ seed: 3, startWallTimeMs: Date.parse("2026-01-01T08:00:00Z"), heartRate: [{ atS: 0, bpm: 70 }], skinTempC: [{ atS: 0, celsius: 33.5 }] });
    const p = keys.provisioning;
    storeCredentials(board.store, {
      deviceId: fromHex(p.deviceId)!,
      signingKey: fromHex(p.signingKey)!,
      signatureAlg: p.signatureAlg,
      gatewayPublicKey: fromHex(p.gatewayPublicKey)!,
      gatewayKeyId: fromHex(p.gatewayKeyId)!,
      agreementAlg: p.agreementAlg,
      aeadAlg: p.aeadAlg,
    });
    board.store.set("settings", "framePeriodS", 1);
    board.link.central.connect(247);
    const seen = new Map<string, string>();
    const counts = { seals: 0, repeats: [] as string[] };
    let rnd = 12345;
    const next = (n: number) => {
      rnd = (rnd * 1103515245 + 12345) % 2147483648;
      return rnd % n;
    };
    let cuts = 0;
    let lastEpoch = -1;
    for (let boot = 0; boot < 80; boot++) {
      // The same random stream at every boot: ephemeral keys repeat on purpose.
      const crypto = recording(new NobleCrypto(seededBytes(3, "every-boot-the-same")), seen, counts);
      const store = new CuttableStore(board.store, 1 + next(12), next(2) === 0);
      const hal = { ...board.hal({ crypto, log: { log: () => {} }, firmwareVersion: "1.0.0" }), store };
      const fw = new WearableFirmware(hal);
      let powerCut = false;
      try {
        fw.start();
        board.clock.advance(1000 + next(6000));
        fw.stop(); // a clean reboot
      } catch (e) {
        if (!(e instanceof PowerLost)) throw e;
        powerCut = true;
        cuts++;
        fw.stop(); // the timers die with the power
      }
      const status = fw.getStatus();
      if (!powerCut) {
        assert.ok(status.epoch > lastEpoch, `boot ${boot}: epoch ${status.epoch} after ${lastEpoch}`);
        lastEpoch = status.epoch;
      }
    }
    assert.ok(cuts >= 20, `${cuts} power cuts`);
    assert.ok(counts.seals >= 100, `${counts.seals} frames sealed`);
    assert.deepEqual(counts.repeats, [], "a (key, nonce) pair repeated");
  });
});
