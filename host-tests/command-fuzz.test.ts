/**
 * Commands as outside bytes: the decoder and the device's handler never throw, answer everything
 * with a signed result (rate limit off), and act only on the untouched original. Every single-bit
 * flip of a valid command is rejected; random and mutated input is rejected; none of it moves the
 * counters. With the rate limit on, the same flood is answered and verified only as far as the
 * buckets allow, and the original still gets through within one refill period.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { NodeCrypto } from "../host/crypto/node-crypto.js";
import { SimPreferenceStore } from "../hal/sim/preference-store.js";
import { decodeCommand, openResult, signCommand } from "../protocol/command.js";
import { CommandHandler } from "../firmware/security/command-handler.js";
import { COMMAND_COUNTER_DOMAIN } from "../protocol/settings.js";
import { SecurityLog } from "../firmware/security/security-log.js";
import { REJECTION_BUCKET, VERIFICATION_BUCKET } from "../firmware/security/rate-limit.js";
import type { Crypto } from "../hal/contracts/crypto.js";
import * as SecurityLogModule from "../protocol/security-log.js";
import { storeRoleKey } from "../firmware/security/trust.js";
import { FragmentReassembler, fragmentMessage } from "../protocol/link-framing.js";

const crypto = new NodeCrypto();
const device = crypto.signatureKeyPair("ES256");
const clinician = crypto.signatureKeyPair("ES256");
const deviceId = new Uint8Array([1, 1, 2, 3, 5, 8, 13, 21]);
const NOW = 1767254400000;

function handler(rateLimited = false) {
  const store = new SimPreferenceStore();
  storeRoleKey(store, "clinician", { alg: "ES256", publicKey: clinician.publicKey });
  const acted: number[] = [];
  const clock = { ticks: 0 };
  const counts = { verify: 0 };
  const counting = Object.create(crypto) as Crypto;
  counting.verify = (alg, key, message, signature) => {
    counts.verify++;
    return crypto.verify(alg, key, message, signature);
  };
  const h = new CommandHandler({
    crypto: counting,
    store,
    wallTime: () => NOW,
    ticks: () => clock.ticks,
    ...(rateLimited ? {} : { rateLimit: null }),
    deviceId,
    signingKey: device.privateKey,
    signatureAlg: "ES256",
    events: new SecurityLog(store, crypto, () => NOW),
    actions: {
      framePeriodChanged: (s) => acted.push(s),
      transportChanged: () => {},
      labMode: () => {},
      rotateKeys: () => 0,
      factoryReset: () => {},
      readSecurityLog: () => ({ entries: [], next: 0, head: new Uint8Array(32) }),
    },
  });
  return { h, store, acted, clock, counts };
}

function status(signed: Uint8Array | null): string {
  assert.ok(signed !== null, "answered (not dropped)");
  const r = openResult(crypto, signed, () => ({ identityPublicKey: device.publicKey, signatureAlg: "ES256" }));
  assert.ok(r.ok, "every answer is a valid signed result");
  return r.result.status;
}

const valid = signCommand(crypto, "ES256", clinician.privateKey, { role: "clinician", deviceId, commandId: 7, expiresMs: NOW + 60000, args: { op: "set-frame-period", seconds: 12 } });

describe("command fuzzing", function () {
  this.timeout(120_000);

  it("every single-bit flip of a valid command is rejected and acts on nothing", () => {
    const { h, store, acted } = handler();
    for (let i = 0; i < valid.length * 8; i++) {
      const t = valid.slice();
      t[i >> 3] ^= 1 << (i & 7);
      assert.notEqual(status(h.handle(t)), "ok", `flip of bit ${i}`);
    }
    assert.deepEqual(acted, []);
    assert.equal(store.get(COMMAND_COUNTER_DOMAIN, "clinician"), undefined);
    assert.equal(status(h.handle(valid)), "ok", "the original is still accepted");
    assert.deepEqual(acted, [12]);
  });

  it("with the rate limit: 1136 bit flips cost at most the buckets' capacity; the original gets through after one refill period", () => {
    const { h, acted, clock, counts } = handler(true);
    let answered = 0;
    for (let i = 0; i < valid.length * 8; i++) {
      const t = valid.slice();
      t[i >> 3] ^= 1 << (i & 7);
      const out = h.handle(t);
      if (out !== null) {
        answered++;
        assert.notEqual(status(out), "ok");
      }
    }
    assert.equal(answered, REJECTION_BUCKET.capacity);
    assert.ok(counts.verify <= VERIFICATION_BUCKET.capacity, `${counts.verify} verifications`);
    assert.equal(h.dropped, valid.length * 8 - answered);
    assert.deepEqual(acted, []);
    // Whether a valid command passes at once depends on what the flood spent: at most one refill period.
    if (h.tokens().verifications === 0) {
      assert.equal(h.handle(valid), null);
      clock.ticks += VERIFICATION_BUCKET.refillMs;
    }
    assert.equal(status(h.handle(valid)), "ok");
    assert.deepEqual(acted, [12]);
  });

  it("random and mutated bytes never throw and never act", () => {
    const { h, acted } = handler();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1200 }), (b) => {
        assert.equal(decodeCommand(b).ok, false);
        assert.notEqual(status(h.handle(b)), "ok");
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.nat(6), fc.uint8Array({ maxLength: 6 }), (at, cut, ins) => {
        const m = new Uint8Array([...valid.subarray(0, at), ...ins, ...valid.subarray(at + cut)]);
        const d = decodeCommand(m);
        if (d.ok && Buffer.compare(Buffer.from(m), Buffer.from(valid)) !== 0) {
          // Structurally valid but changed: the signature must fail.
          assert.notEqual(status(h.handle(m)), "ok");
        }
      }),
      { numRuns: 300 },
    );
    assert.deepEqual(acted, []);
  });

  it("device-side reassembly: fragments of a command at any payload size, broken sequences dropped", () => {
    for (const maxPayload of [20, 64, 244]) {
      const r = new FragmentReassembler();
      const frags = fragmentMessage(valid, maxPayload, 3);
      let got: Uint8Array | null = null;
      for (const f of frags) {
        const x = r.push(f);
        if (x.kind === "message") got = x.message;
      }
      assert.deepEqual(got, valid);
    }
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 30 }), { maxLength: 40 }), (writes) => {
        const r = new FragmentReassembler();
        for (const w of writes) r.push(w);
      }),
      { numRuns: 300 },
    );
  });
});

describe("security log across power cuts", () => {
  it("an entry whose head write was lost is adopted at the next boot; the chain stays whole", () => {
    const inner = new SimPreferenceStore();
    let failHead = false;
    const store = {
      get: (d: string, k: string) => inner.get(d, k),
      set: (d: string, k: string, v: ArrayBuffer | number | string | boolean) => {
        if (failHead && k === "head") throw new Error("power cut");
        inner.set(d, k, v);
      },
      delete: (d: string, k: string) => inner.delete(d, k),
      keys: (d: string) => inner.keys(d),
    };
    const log = new SecurityLog(store, crypto, () => NOW, 4);
    for (let i = 0; i < 6; i++) log.record("key-rotation", `epoch ${i}`);
    failHead = true;
    log.record("command", "torn");
    failHead = false;
    assert.equal(log.nextSeq, 6, "the running log did not count the torn entry");
    const rebooted = new SecurityLog(store, crypto, () => NOW, 4);
    assert.equal(rebooted.nextSeq, 7, "adopted at boot");
    rebooted.record("command", "after");
    const r = rebooted.read(0, 16);
    const { verifyLogChain } = SecurityLogModule;
    const chain = verifyLogChain((d) => crypto.sha256(d), r.entries, { next: r.next, hash: r.head });
    assert.ok(chain.ok);
    if (chain.ok) assert.deepEqual(chain.entries.map((e) => [e.seq, e.detail]), [[4, "epoch 4"], [5, "epoch 5"], [6, "torn"], [7, "after"]]);
  });
});
