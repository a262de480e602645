/**
 * Wire protocol v1: deterministic CBOR, records, and frames (seal -> accept). Portable: runs on
 * Node and inside XS. Public-key work is shared through one lazily built fixture so the suite
 * stays within a few dozen signatures.
 */
import { assert, assertEqual, assertThrows, seededRandom, suite, test } from "./harness.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import type { CborValue } from "../../protocol/cbor.js";
import { CborWriter, decodeCbor, encodeCbor, tagged } from "../../protocol/cbor.js";
import { fromHex, toHex, utf8Decode, utf8Encode } from "../../protocol/bytes.js";
import { decodeRecord, encodeRecord } from "../../protocol/record.js";
import type { Reading, RecordV1 } from "../../protocol/record.js";
import { FrameOpener, FrameSealer, deriveEpochKeys, epochKdfSalt } from "../../protocol/frame.js";
import { decodeEncrypt0, decodeSign1, openEncrypt0, partialIvNonce } from "../../protocol/cose.js";
import type { FrameOpenerOptions, OpenResult } from "../../protocol/frame.js";
import type { Crypto, KeyPair } from "../../hal/contracts/crypto.js";

function hex(s: string): Uint8Array {
  const b = fromHex(s);
  if (b === null) throw new Error(`bad hex in test: ${s}`);
  return b;
}

function seededSource(seed: number): (n: number) => Uint8Array {
  const next = seededRandom(seed);
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
    return out;
  };
}

function decodeErrorCode(bytes: Uint8Array, maxDepth?: number): string {
  const r = decodeCbor(bytes, maxDepth === undefined ? {} : { maxDepth });
  return r.ok ? "ok" : r.error.code;
}

function reading(i: number): Reading {
  return {
    seq: 5000 + i,
    timeMs: 1767225600000 + i * 1000,
    hrBpm: i % 4 === 3 ? null : 61.5 + i * 0.7,
    hrQuality: 80 + i,
    tempC: i % 5 === 4 ? null : 33.25 + i * 0.01,
    flags: i % 4 === 3 ? 1 : 0,
  };
}

function record(frameSeq: number, n = 5): RecordV1 {
  const readings: Reading[] = [];
  for (let i = 0; i < n; i++) readings.push(reading(i));
  return { schema: 1, frameSeq, firmwareVersion: "1.2.3", readings };
}

/** The record as the receiver sees it (values at wire resolution). */
function quantized(r: RecordV1): RecordV1 {
  return {
    ...r,
    readings: r.readings.map((x) => ({
      ...x,
      hrBpm: x.hrBpm === null ? null : Math.round(x.hrBpm * 10) / 10,
      tempC: x.tempC === null ? null : Math.round(x.tempC * 100) / 100,
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// Frame fixture: one device, one gateway, two epochs, frames 1..6 in epoch 1 and 7 in epoch 2.

interface Fixture {
  crypto: Crypto;
  deviceId: Uint8Array;
  identity: KeyPair;
  gateway: KeyPair;
  announce1: Uint8Array;
  announce2: Uint8Array;
  frames: Uint8Array[]; // frames[k] has frameSeq k (1..6, epoch 1); frames[7] epoch 2
  records: RecordV1[];
}

let fixture: Fixture | null = null;

function getFixture(): Fixture {
  if (fixture !== null) return fixture;
  const crypto = new NobleCrypto(seededSource(7));
  const deviceId = hex("0102030405060708");
  const identity = crypto.signatureKeyPair("ES256");
  const gateway = crypto.agreementKeyPair("P-256");
  const sealer = new FrameSealer({
    crypto,
    deviceId,
    identityPrivateKey: identity.privateKey,
    signatureAlg: "ES256",
    gatewayPublicKey: gateway.publicKey,
    gatewayKeyId: hex("a1a2a3a4a5a6a7a8"),
    agreementAlg: "P-256",
    aeadAlg: "A128GCM",
  });
  const announce1 = sealer.openEpoch(1);
  const frames: Uint8Array[] = [];
  const records: RecordV1[] = [];
  for (let seq = 1; seq <= 6; seq++) {
    records[seq] = record(seq, seq === 6 ? 1 : 5);
    frames[seq] = sealer.seal(records[seq]);
  }
  const announce2 = sealer.openEpoch(2);
  records[7] = record(7, 2);
  frames[7] = sealer.seal(records[7]);
  fixture = { crypto, deviceId, identity, gateway, announce1, announce2, frames, records };
  return fixture;
}

function opener(f: Fixture, extra: Partial<FrameOpenerOptions> = {}): FrameOpener {
  return new FrameOpener({
    crypto: f.crypto,
    gatewayPrivateKey: f.gateway.privateKey,
    agreementAlg: "P-256",
    lookupDevice: (id) => (toHex(id) === toHex(f.deviceId) ? { identityPublicKey: f.identity.publicKey, signatureAlg: "ES256" } : null),
    ...extra,
  });
}

function reason(r: OpenResult): string {
  return r.kind === "rejected" ? r.reason : r.kind;
}

function expectRecord(r: OpenResult, frameSeq: number, gapBefore: number, late: boolean): void {
  assert(r.kind === "record", `expected a record, got ${r.kind === "rejected" ? `${r.reason}: ${r.detail}` : r.kind}`);
  assertEqual(r.frameSeq, frameSeq, "frameSeq");
  assertEqual(r.gapBefore, gapBefore, "gapBefore");
  assertEqual(r.late, late, "late");
}

suite("protocol", () => {
  suite("CBOR", () => {
    test("deterministic encodings of integers, strings and simple values", () => {
      const cases: [CborValue, string][] = [
        [0, "00"],
        [23, "17"],
        [24, "1818"],
        [255, "18ff"],
        [256, "190100"],
        [65535, "19ffff"],
        [65536, "1a00010000"],
        [4294967295, "1affffffff"],
        [4294967296, "1b0000000100000000"],
        [9007199254740991, "1b001fffffffffffff"],
        [-1, "20"],
        [-24, "37"],
        [-25, "3818"],
        [-9007199254740991, "3b001ffffffffffffe"],
        ["", "60"],
        ["a", "6161"],
        ["\u00fc", "62c3bc"],
        ["\ud83d\ude00", "64f09f9880"],
        [new Uint8Array(0), "40"],
        [hex("0102"), "420102"],
        [false, "f4"],
        [true, "f5"],
        [null, "f6"],
        [[], "80"],
        [[1, [2, 3]], "8201820203"],
        [tagged(18, []), "d280"],
      ];
      for (const [v, h] of cases) {
        assertEqual(toHex(encodeCbor(v)), h, `encoding of ${String(v)}`);
        const d = decodeCbor(hex(h));
        assert(d.ok, `decoding ${h}`);
        assertEqual(d.value, v, `decoded ${h}`);
      }
    });

    test("map keys are sorted by their encoded bytes", () => {
      const m = new Map<number | string, CborValue>([
        ["a", 4],
        [-1, 3],
        [10, 5],
        [1, 2],
        [100, 6],
      ]);
      assertEqual(toHex(encodeCbor(m)), "a5" + "0102" + "0a05" + "186406" + "2003" + "616104");
      assertThrows(() => new CborWriter().value(new Map<number, CborValue>([[1, 1]])).int(1.5), /safe integer/);
    });

    test("random values round-trip and re-encode to the same bytes", () => {
      const rnd = seededRandom(42);
      const int = () => {
        const k = Math.floor(rnd() * 5);
        const mag = [24, 256, 65536, 4294967296, 9007199254740991][k];
        const v = Math.floor(rnd() * mag);
        return rnd() < 0.3 ? -v - 1 : v;
      };
      const gen = (depth: number): CborValue => {
        const t = Math.floor(rnd() * (depth >= 6 ? 5 : 9));
        switch (t) {
          case 0:
            return int();
          case 1: {
            const b = new Uint8Array(Math.floor(rnd() * 40));
            for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
            return b;
          }
          case 2: {
            let s = "";
            const n = Math.floor(rnd() * 12);
            for (let i = 0; i < n; i++) s += String.fromCharCode(rnd() < 0.8 ? 32 + Math.floor(rnd() * 90) : 0x100 + Math.floor(rnd() * 0xd000));
            return s;
          }
          case 3:
            return rnd() < 0.5;
          case 4:
            return null;
          case 5:
          case 6: {
            const a: CborValue[] = [];
            const n = Math.floor(rnd() * 5);
            for (let i = 0; i < n; i++) a.push(gen(depth + 1));
            return a;
          }
          case 7: {
            const m = new Map<number | string, CborValue>();
            const n = Math.floor(rnd() * 5);
            for (let i = 0; i < n; i++) m.set(rnd() < 0.5 ? int() : String.fromCharCode(97 + Math.floor(rnd() * 26)), gen(depth + 1));
            return m;
          }
          default:
            return tagged(Math.floor(rnd() * 300), gen(depth + 1));
        }
      };
      for (let i = 0; i < 200; i++) {
        const v = gen(0);
        const bytes = encodeCbor(v);
        const d = decodeCbor(bytes, { maxDepth: 16 });
        assert(d.ok, `decode failed: ${d.ok ? "" : d.error.message} for ${toHex(bytes)}`);
        assertEqual(d.value, v);
        assertEqual(encodeCbor(d.value), bytes);
      }
    });

    test("UTF-8 helpers reject invalid sequences", () => {
      assertEqual(utf8Decode(utf8Encode("h\u00e9llo \u20ac \ud83d\ude00")), "h\u00e9llo \u20ac \ud83d\ude00");
      assertEqual(utf8Decode(hex("c328")), null, "bad continuation");
      assertEqual(utf8Decode(hex("c0af")), null, "overlong");
      assertEqual(utf8Decode(hex("eda080")), null, "surrogate");
      assertEqual(utf8Decode(hex("e282")), null, "truncated");
      assertEqual(utf8Decode(hex("f4908080")), null, "above U+10FFFF");
    });

    test("decoder errors: truncated, indefinite, non-canonical, order, depth, trailing, unsupported", () => {
      assertEqual(decodeErrorCode(new Uint8Array(0)), "truncated");
      assertEqual(decodeErrorCode(hex("1901")), "truncated");
      assertEqual(decodeErrorCode(hex("450102")), "truncated");
      assertEqual(decodeErrorCode(hex("83010203").subarray(0, 3)), "truncated");
      assertEqual(decodeErrorCode(hex("9affffffff")), "truncated", "huge array count");
      assertEqual(decodeErrorCode(hex("9f01ff")), "indefinite-length");
      assertEqual(decodeErrorCode(hex("5f4101ff")), "indefinite-length");
      assertEqual(decodeErrorCode(hex("bf0101ff")), "indefinite-length");
      assertEqual(decodeErrorCode(hex("ff")), "indefinite-length", "lone break");
      assertEqual(decodeErrorCode(hex("1805")), "non-canonical");
      assertEqual(decodeErrorCode(hex("1900ff")), "non-canonical");
      assertEqual(decodeErrorCode(hex("1a0000ffff")), "non-canonical");
      assertEqual(decodeErrorCode(hex("1b00000000ffffffff")), "non-canonical");
      assertEqual(decodeErrorCode(hex("5801aa")), "non-canonical", "length not shortest");
      assertEqual(decodeErrorCode(hex("a202000100")), "map-key-order");
      assertEqual(decodeErrorCode(hex("a201000100")), "map-key-order", "duplicate key");
      assertEqual(decodeErrorCode(hex("a2616100200100")), "map-key-order", "text before negative");
      assertEqual(decodeErrorCode(hex("a1410100")), "unsupported", "byte-string key");
      assertEqual(decodeErrorCode(hex("f93c00")), "unsupported", "half float");
      assertEqual(decodeErrorCode(hex("f7")), "unsupported", "undefined");
      assertEqual(decodeErrorCode(hex("1c")), "reserved");
      assertEqual(decodeErrorCode(hex("1b0020000000000000")), "int-range");
      assertEqual(decodeErrorCode(hex("3b001fffffffffffff")), "int-range");
      assertEqual(decodeErrorCode(hex("62c328")), "invalid-utf8");
      assertEqual(decodeErrorCode(hex("0000")), "trailing-bytes");
      assertEqual(decodeErrorCode(hex("818181818181818100")), "ok", "depth 8");
      assertEqual(decodeErrorCode(hex("81818181818181818100")), "too-deep", "depth 9");
      assertEqual(decodeErrorCode(hex("d2d2d2d2d2d2d2d2d200")), "too-deep", "nested tags count");
      const partial = decodeCbor(hex("0102"), { exact: false });
      assert(partial.ok && partial.value === 1 && partial.end === 1, "exact: false reports the end");
    });

    test("decoder never throws on random bytes", () => {
      const rnd = seededRandom(99);
      for (let i = 0; i < 2000; i++) {
        const b = new Uint8Array(1 + Math.floor(rnd() * 24));
        for (let k = 0; k < b.length; k++) b[k] = Math.floor(rnd() * 256);
        const r = decodeCbor(b);
        assert(r.ok === true || typeof r.error.code === "string", "typed result");
      }
    });
  });

  suite("records", () => {
    test("round trip at wire resolution", () => {
      const r = record(42, 5);
      const bytes = encodeRecord(r);
      const d = decodeRecord(bytes);
      assert(d.ok, d.ok ? "" : d.error.message);
      assertEqual(d.record, quantized(r));
      assertEqual(encodeRecord(d.record), bytes, "re-encodes identically");
    });

    test("values are encoded as deci-bpm and centi-C integers", () => {
      const bytes = encodeRecord({
        schema: 1,
        frameSeq: 1,
        firmwareVersion: "v",
        readings: [{ seq: 0, timeMs: 0, hrBpm: 72.34, hrQuality: 100, tempC: -1.005, flags: 3 }],
      });
      // {0: 1, 1: 1, 2: "v", 3: [{0: 0, 1: 0, 2: 723, 3: 100, 4: -100, 5: 3}]}
      assertEqual(toHex(bytes), "a4" + "0001" + "0101" + "026176" + "0381" + "a6" + "0000" + "0100" + "021902d3" + "031864" + "043863" + "0503");
      const d = decodeRecord(bytes);
      assert(d.ok);
      assertEqual(d.record.readings[0].hrBpm, 72.3);
      assertEqual(d.record.readings[0].tempC, -1);
    });

    test("encoder rejects values outside the schema", () => {
      const base = record(1, 1);
      const bad = (patch: Partial<Reading>) => ({ ...base, readings: [{ ...base.readings[0], ...patch }] });
      assertThrows(() => encodeRecord(bad({ hrBpm: 300.1 })), /hrBpm/);
      assertThrows(() => encodeRecord(bad({ hrBpm: Number.NaN })), /hrBpm/);
      assertThrows(() => encodeRecord(bad({ tempC: 150.01 })), /tempC/);
      assertThrows(() => encodeRecord(bad({ hrQuality: 101 })), /hrQuality/);
      assertThrows(() => encodeRecord(bad({ seq: -1 })), /seq/);
      assertThrows(() => encodeRecord(bad({ timeMs: 1.5 })), /timeMs/);
      assertThrows(() => encodeRecord(bad({ flags: 0x10000 })), /flags/);
      assertThrows(() => encodeRecord({ ...base, frameSeq: 2 ** 40 }), /frameSeq/);
      assertThrows(() => encodeRecord({ ...base, firmwareVersion: "x".repeat(33) }), /firmwareVersion/);
    });

    test("decoder reports typed errors", () => {
      const code = (v: CborValue) => {
        const d = decodeRecord(encodeCbor(v));
        return d.ok ? "ok" : `${d.error.code} ${d.error.path}`;
      };
      const rd = (patch: [number, CborValue][] = [], drop?: number) => {
        const m = new Map<number, CborValue>([
          [0, 1],
          [1, 1700000000000],
          [2, 700],
          [3, 90],
          [4, 3350],
          [5, 0],
        ]);
        for (const [k, v] of patch) m.set(k, v);
        if (drop !== undefined) m.delete(drop);
        return m;
      };
      const rec = (readings: CborValue, patch: [number, CborValue][] = []) => {
        const m = new Map<number, CborValue>([
          [0, 1],
          [1, 9],
          [2, "1.0"],
          [3, readings],
        ]);
        for (const [k, v] of patch) m.set(k, v);
        return m;
      };
      assertEqual(code(rec([rd()])), "ok");
      assertEqual(code(rec([rd()], [[0, 2]])), "unsupported-schema schema");
      assertEqual(code(new Map([[0, 2]])), "unsupported-schema schema");
      assertEqual(code(rec([rd()], [[5, 0]])), "unknown-field ");
      assertEqual(code(rec([rd()], [[4, 0]])), "wrong-type ppg");
      assertEqual(code(rec([rd([[8, 0]])])), "unknown-field readings[0]");
      assertEqual(code(rec([rd([[7, 0]])])), "out-of-range readings[0].hrReason");
      assertEqual(code(rec([rd([[7, 4]])])), "out-of-range readings[0].hrReason", "a reason next to a heart rate");
      assertEqual(code(rec([rd([[2, null], [7, 4]])])), "ok");
      assertEqual(code(rec([rd([[2, null], [7, 16]])])), "out-of-range readings[0].hrReason");
      const withReason = decodeRecord(encodeCbor(rec([rd([[2, null], [7, 4]])])));
      assert(withReason.ok && withReason.record.readings[0].hrReason === 4 && withReason.record.readings[0].hrBpm === null, "reason decoded");
      assertEqual(code(rec([rd([[6, 0]])])), "out-of-range readings[0].alerts");
      assertEqual(code(rec([rd([[6, 5]])])), "ok");
      assertEqual(code(rec([rd([], 5)])), "missing-field readings[0].flags");
      assertEqual(code(rec([rd([[2, 3001]])])), "out-of-range readings[0].hrBpm");
      assertEqual(code(rec([rd([[4, -5501]])])), "out-of-range readings[0].tempC");
      assertEqual(code(rec([rd([[3, 101]])])), "out-of-range readings[0].hrQuality");
      assertEqual(code(rec([rd([[1, -1]])])), "out-of-range readings[0].timeMs");
      assertEqual(code(rec([rd([[2, "72"]])])), "wrong-type readings[0].hrBpm");
      assertEqual(code(rec("x")), "wrong-type readings");
      assertEqual(code([1]), "wrong-type ");
      const d = decodeRecord(hex("a4"));
      assert(!d.ok && d.error.code === "cbor", "truncated CBOR");
    });
  });

  suite("frames", () => {
    test("seal -> accept round trip", () => {
      const f = getFixture();
      const o = opener(f);
      const a = o.accept(f.announce1);
      assert(a.kind === "epoch" && a.epoch === 1 && !a.repeated, `announcement: ${reason(a)}`);
      assertEqual(toHex(a.deviceId), "0102030405060708");
      const r = o.accept(f.frames[1]);
      expectRecord(r, 1, 0, false);
      if (r.kind === "record") {
        assertEqual(r.epoch, 1);
        assertEqual(r.record, quantized(f.records[1]));
      }
    });

    test("epoch keys are bound to the device: a frame sealed for device A does not open under device B's context (same ECDH secret)", () => {
      const f = getFixture();
      const gatewayKeyId = hex("a1a2a3a4a5a6a7a8");
      const salt = epochKdfSalt({ deviceId: f.deviceId, identityPublicKey: f.identity.publicKey, gatewayKeyId, epoch: 1 });
      assertEqual(
        toHex(salt),
        "01" + "000e" + toHex(utf8Encode("wearable epoch")) + "0008" + "0102030405060708" + "0041" + toHex(f.identity.publicKey) + "0008" + "a1a2a3a4a5a6a7a8" + "00000001",
        "the salt layout of docs/protocol.md section 5",
      );
      const ann = decodeSign1(f.announce1);
      assert(ann.ok, "announcement decodes");
      if (!ann.ok) return;
      const payload = decodeCbor(ann.value.payload);
      assert(payload.ok && payload.value instanceof Map, "announcement payload");
      if (!payload.ok || !(payload.value instanceof Map)) return;
      const ephemeral = payload.value.get(4) as Uint8Array;
      const shared = f.crypto.agree("P-256", f.gateway.privateKey, ephemeral);
      assert(shared !== null, "ECDH");
      if (shared === null) return;
      const frame = decodeEncrypt0(f.frames[1]);
      assert(frame.ok, "frame decodes");
      if (!frame.ok) return;
      const aad = new CborWriter(32).arrayHeader(4).bytes(f.deviceId).int(0).int(1).int(1).toBytes();
      const opens = (context: { deviceId: Uint8Array; identityPublicKey: Uint8Array; gatewayKeyId: Uint8Array }): boolean => {
        const keys = deriveEpochKeys(f.crypto, {
          sharedSecret: shared,
          ...context,
          epoch: 1,
          aeadAlg: "A128GCM",
          agreementAlg: "P-256",
          signatureAlg: "ES256",
          ephemeralPublicKey: ephemeral,
        });
        const nonce = partialIvNonce(keys.baseIv, frame.value.unprotectedHeaders.get(6) as Uint8Array);
        return openEncrypt0(f.crypto, frame.value, keys.contentKey, nonce, aad, "A128GCM").ok;
      };
      const a = { deviceId: f.deviceId, identityPublicKey: f.identity.publicKey, gatewayKeyId };
      assert(opens(a), "device A's context opens its frame");
      assert(!opens({ ...a, deviceId: hex("0102030405060709") }), "another device id");
      assert(!opens({ ...a, identityPublicKey: f.gateway.publicKey }), "another identity key (any other P-256 point)");
      assert(!opens({ ...a, gatewayKeyId: hex("a1a2a3a4a5a6a7a9") }), "another gateway key id");
      const b = { deviceId: hex("0807060504030201"), identityPublicKey: f.gateway.publicKey, gatewayKeyId };
      assert(!opens(b), "device B's whole context");
    });

    test("replay rejected, out-of-order within the window accepted once, gap reported", () => {
      const f = getFixture();
      const o = opener(f);
      assertEqual(reason(o.accept(f.announce1)), "epoch");
      expectRecord(o.accept(f.frames[1]), 1, 0, false);
      assertEqual(reason(o.accept(f.frames[1])), "replay");
      expectRecord(o.accept(f.frames[4]), 4, 2, false);
      expectRecord(o.accept(f.frames[3]), 3, 0, true);
      assertEqual(reason(o.accept(f.frames[3])), "replay");
      assertEqual(reason(o.accept(f.frames[4])), "replay");
      const again = o.accept(f.announce1);
      assert(again.kind === "epoch" && again.repeated, "a repeated announcement is ignored idempotently");
      expectRecord(o.accept(f.frames[2]), 2, 0, true);
      expectRecord(o.accept(f.frames[6]), 6, 1, false);
    });

    test("frames older than the window are rejected", () => {
      const f = getFixture();
      const o = opener(f, { replayWindow: 2 });
      o.accept(f.announce1);
      expectRecord(o.accept(f.frames[5]), 5, 0, false);
      assertEqual(reason(o.accept(f.frames[3])), "counter-outside-window");
      expectRecord(o.accept(f.frames[4]), 4, 0, true);
    });

    test("a flipped byte is rejected", () => {
      const f = getFixture();
      const o = opener(f);
      const ann = f.announce1.slice();
      ann[40] ^= 0x20; // inside the signed payload
      assertEqual(reason(o.accept(ann)), "bad-signature");
      assertEqual(reason(o.accept(f.announce1)), "epoch");
      const frame = f.frames[1].slice();
      frame[frame.length - 20] ^= 0x01; // inside the ciphertext
      assertEqual(reason(o.accept(frame)), "decrypt-failed");
      const header = f.frames[1].slice();
      header[1] ^= 0x01; // array of 3 -> 2
      assertEqual(reason(o.accept(header)), "malformed");
      expectRecord(o.accept(f.frames[1]), 1, 0, false);
    });

    test("unknown device rejected", () => {
      const f = getFixture();
      const o = opener(f, { lookupDevice: () => null });
      assertEqual(reason(o.accept(f.announce1)), "unknown-device");
      assertEqual(reason(o.accept(f.frames[1])), "unknown-device");
    });

    test("wrong epoch: frames without an announcement, and epochs no longer open", () => {
      const f = getFixture();
      const o = opener(f, { epochsRetained: 1 });
      assertEqual(reason(o.accept(f.frames[1])), "unknown-epoch");
      assertEqual(reason(o.accept(f.announce1)), "epoch");
      assertEqual(reason(o.accept(f.frames[7])), "unknown-epoch");
      assertEqual(reason(o.accept(f.announce2)), "epoch");
      expectRecord(o.accept(f.frames[7]), 7, 0, false);
      assertEqual(reason(o.accept(f.frames[2])), "stale-epoch");
      assertEqual(reason(o.accept(f.announce1)), "stale-epoch");
    });

    test("garbage is rejected as malformed", () => {
      const f = getFixture();
      const o = opener(f);
      assertEqual(reason(o.accept(new Uint8Array(0))), "malformed");
      assertEqual(reason(o.accept(hex("a0"))), "malformed");
      assertEqual(reason(o.accept(hex("d083"))), "malformed");
      assertEqual(reason(o.accept(hex("d28440a04040"))), "malformed");
    });
  });
});
