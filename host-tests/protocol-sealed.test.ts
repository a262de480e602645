/**
 * Everything the device says after its announcement travels encrypted (docs/protocol.md 6, 6.1,
 * 13.1): command results and update status reports are sealed into data frames like records
 * (`FrameSealer.sealSigned`), numbered from the frames' own sequence, and opened by the gateway's
 * FrameOpener. The inner COSE_Sign1's content type (protocol/content-types.ts) says what a frame
 * carries and which external AAD its signature covers; the plaintext is padded to a size class
 * (protocol/padding.ts). Property tests: the new parsers (padding, result and status payloads, the
 * opener on mutated sealed messages) return typed errors and never throw.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import type { AeadAlgorithm, Crypto, KeyAgreementAlgorithm, KeyPair, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import { CborWriter, encodeCbor } from "../protocol/cbor.js";
import { toHex, utf8Encode } from "../protocol/bytes.js";
import type { CborKey, CborValue } from "../protocol/cbor.js";
import { createSign1, decodeEncrypt0, encodePartialIv, partialIvNonce, sealEncrypt0 } from "../protocol/cose.js";
import { CONTENT_TYPE_ANNOUNCEMENT, CONTENT_TYPE_COMMAND, CONTENT_TYPE_RECORD, CONTENT_TYPE_RESULT, CONTENT_TYPE_UPDATE_STATUS } from "../protocol/content-types.js";
import { FrameOpener, FrameSealer, REJECT_REASONS, frameExternalAad, frameKid } from "../protocol/frame.js";
import type { EpochKeys, OpenResult } from "../protocol/frame.js";
import { parseResultPayload, signCommand, signResult } from "../protocol/command.js";
import type { CommandResult } from "../protocol/command.js";
import { encodeUpdateStatus, parseUpdateStatusPayload } from "../protocol/update-manifest.js";
import type { UpdateStatus } from "../protocol/update-manifest.js";
import {
  LOG_RESULT_PADDED_LENGTH,
  MESSAGE_PADDED_LENGTH,
  PAD_BLOCK,
  READING_MAX_BYTES,
  RECORD_FIXED_MAX_BYTES,
  padBlocks,
  padPlaintext,
  recordPaddedLength,
  unpadPlaintext,
} from "../protocol/padding.js";
import { encodeRecord } from "../protocol/record.js";
import type { Reading, RecordV1 } from "../protocol/record.js";

function seeded(label: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) {
      const block = createHash("sha256").update(`${label}/${counter++}`).digest();
      out.set(block.subarray(0, Math.min(32, n - off)), off);
    }
    return out;
  };
}

const DEVICE = new Uint8Array([0x5e, 0xa1, 0xed, 0, 0, 0, 0, 7]);
const NOW = 1767254400000;

function readings(n: number, start = 0): Reading[] {
  return Array.from({ length: n }, (_, i) => ({ seq: 500 + start + i, timeMs: NOW + (start + i) * 1000, hrBpm: 70 + i, hrQuality: 90, tempC: 33.5, flags: 0 }));
}

function record(frameSeq: number, n = 5): RecordV1 {
  return { schema: 1, frameSeq, firmwareVersion: "1.0.0", readings: readings(n, frameSeq * 5) };
}

function result(overrides: Partial<CommandResult> = {}): CommandResult {
  return {
    deviceId: DEVICE,
    commandId: 7,
    status: "ok",
    op: "rotate-keys",
    role: "maintainer",
    deviceTimeMs: NOW + 3000,
    body: new Map<CborKey, CborValue>([["epoch", 3]]),
    ...overrides,
  };
}

function status(overrides: Partial<UpdateStatus> = {}): UpdateStatus {
  return { deviceId: DEVICE, outcome: "accepted", reason: "", version: "2.0.0", sequence: 2, offset: 0, detail: "297071 bytes", running: "1.0.0", ...overrides };
}

interface World {
  crypto: Crypto;
  identity: KeyPair;
  gateway: KeyPair;
  sealer: FrameSealer;
  announcement: Uint8Array;
  sigAlg: SignatureAlgorithm;
  aead: AeadAlgorithm;
  /** The open epoch's keys (from the opener, which derived them from the announcement). */
  keys(): EpochKeys;
  opener(): FrameOpener;
  signResult(r?: Partial<CommandResult>, key?: Uint8Array): Uint8Array;
  signStatus(s?: Partial<UpdateStatus>): Uint8Array;
  /** A data frame built by hand around `inner`, padded by `pad` (default: to 512 bytes). */
  craft(frameSeq: number, inner: Uint8Array, pad?: (inner: Uint8Array) => Uint8Array): Uint8Array;
}

const EPOCH = 4;

function world(sigAlg: SignatureAlgorithm = "ES256", ka: KeyAgreementAlgorithm = "P-256", aead: AeadAlgorithm = "A128GCM"): World {
  const crypto = new NobleCrypto(seeded(`sealed/${sigAlg}/${ka}/${aead}`));
  const identity = crypto.signatureKeyPair(sigAlg);
  const gateway = crypto.agreementKeyPair(ka);
  const sealer = new FrameSealer({ crypto, deviceId: DEVICE, identityPrivateKey: identity.privateKey, signatureAlg: sigAlg, gatewayPublicKey: gateway.publicKey, gatewayKeyId: new Uint8Array([9, 9]), agreementAlg: ka, aeadAlg: aead });
  const announcement = sealer.openEpoch(EPOCH);
  const opener = () => {
    const o = new FrameOpener({
      crypto,
      gatewayPrivateKey: gateway.privateKey,
      agreementAlg: ka,
      lookupDevice: (id) => (toHex(id) === toHex(DEVICE) ? { identityPublicKey: identity.publicKey, signatureAlg: sigAlg } : null),
    });
    assert.equal(o.accept(announcement).kind, "epoch");
    return o;
  };
  const keys = (): EpochKeys => {
    const o = opener();
    const secrets = o.exportEpochSecrets()[0].epochs[0];
    const hex = (h: string) => new Uint8Array(Buffer.from(h, "hex"));
    return { contentKey: hex(secrets.contentKey), baseIv: hex(secrets.baseIv), linkKey: hex(secrets.linkKey) };
  };
  return {
    crypto,
    identity,
    gateway,
    sealer,
    announcement,
    sigAlg,
    aead,
    keys,
    opener,
    signResult: (r = {}, key = identity.privateKey) => signResult(crypto, sigAlg, key, result(r)),
    signStatus: (s = {}) => encodeUpdateStatus(crypto, sigAlg, identity.privateKey, status(s)),
    craft: (frameSeq, inner, pad = (x) => padPlaintext(x, Math.max(padBlocks(x.length), 512))) => {
      const k = keys();
      const piv = encodePartialIv(frameSeq);
      return sealEncrypt0({
        crypto,
        alg: aead,
        key: k.contentKey,
        nonce: partialIvNonce(k.baseIv, piv),
        plaintext: pad(inner),
        externalAad: frameExternalAad(DEVICE, EPOCH),
        unprotectedHeaders: new Map<number, CborValue>([[4, frameKid(DEVICE, EPOCH)], [6, piv]]),
      });
    },
  };
}

function why(r: OpenResult): string {
  return r.kind === "rejected" ? `${r.reason} (${r.detail})` : r.kind;
}

function expectReject(r: OpenResult, reason: string, what = ""): void {
  assert.equal(r.kind, "rejected", `${what} expected ${reason}, got ${why(r)}`);
  if (r.kind === "rejected") assert.equal(r.reason, reason, `${what} ${r.detail}`);
}

function assertTypedRejection(r: OpenResult, what: string): void {
  assert.equal(r.kind, "rejected", `${what} was accepted as ${r.kind}`);
  if (r.kind === "rejected") {
    assert.ok(REJECT_REASONS.includes(r.reason), `${what}: reason ${String(r.reason)} outside the closed set`);
    assert.equal(typeof r.detail, "string");
  }
}

/** Ciphertext length of a data frame (the size class plus the 16-byte tag). */
function ciphertextLength(frame: Uint8Array): number {
  const d = decodeEncrypt0(frame);
  assert.ok(d.ok);
  return d.value.ciphertext.length;
}

describe("sealed command results and update status reports", function () {
  this.timeout(120_000);

  for (const [sigAlg, ka, aead] of [
    ["ES256", "P-256", "A128GCM"],
    ["ES256", "P-256", "ChaCha20/Poly1305"],
    ["EdDSA", "X25519", "A128GCM"],
    ["EdDSA", "X25519", "ChaCha20/Poly1305"],
  ] as const) {
    it(`${sigAlg} / ${ka} / ${aead}: records, a result and a report share one frame sequence and open at the gateway`, () => {
      const w = world(sigAlg, ka, aead);
      const frames = [
        w.sealer.seal(record(0)),
        w.sealer.sealSigned(1, w.signResult()),
        w.sealer.sealSigned(2, w.signStatus()),
        w.sealer.seal(record(3, 1)),
        w.sealer.sealSigned(4, w.signResult({ op: "read-security-log", body: new Map<CborKey, CborValue>([["entries", []], ["next", 0], ["head", new Uint8Array(32)]]) }), LOG_RESULT_PADDED_LENGTH),
      ];
      const o = w.opener();
      const got = frames.map((f) => o.accept(f));
      assert.deepEqual(got.map((r) => r.kind), ["record", "result", "update-status", "record", "result"], got.map(why).join(", "));
      const r = got[1];
      assert.ok(r.kind === "result");
      assert.equal(r.frameSeq, 1);
      assert.equal(r.gapBefore, 0);
      assert.equal(r.result.op, "rotate-keys");
      assert.equal(r.result.body.get("epoch"), 3);
      const s = got[2];
      assert.ok(s.kind === "update-status");
      assert.equal(s.status.outcome, "accepted");
      assert.equal(s.status.version, "2.0.0");
      // Size classes: every record frame of at most 5 readings 320 + 16, every result and report
      // 512 + 16, every read-security-log result 3392 + 16 (docs/protocol.md 6.1).
      assert.deepEqual(frames.map(ciphertextLength), [336, 528, 528, 192 + 16, 3408]);
      // A copy (the queue sent it again, or someone replays it) is a replay of its frame number.
      expectReject(o.accept(frames[1]), "replay");
      expectReject(o.accept(frames[2]), "replay");
    });
  }

  it("the device pads every frame of a period to one size: a frame of 1 reading (an alert) as long as one of 5 with nulls and alerts", () => {
    const w = world();
    const nulls: Reading[] = readings(5).map((r, i) => (i % 2 ? { ...r, hrBpm: null, hrReason: 4, alerts: 8, flags: 9 } : r));
    const a = w.sealer.seal(record(0), 5);
    const b = w.sealer.seal({ ...record(1), readings: nulls }, 5);
    const c = w.sealer.seal(record(2, 1), 5);
    const d = w.sealer.seal({ ...record(3, 1), readings: [{ ...readings(1)[0], hrBpm: null, hrReason: 2, alerts: 0xff, flags: 0xffff }] }, 5);
    assert.deepEqual([a, b, c, d].map((f) => f.length), [363, 363, 363, 363]);
  });

  it("sealSigned refuses what is not this device's result or status report, and a frame number not above the last", () => {
    const w = world();
    const other = new Uint8Array(DEVICE);
    other[7] ^= 1;
    assert.throws(() => w.sealer.sealSigned(1, new Uint8Array([0xa0])), /COSE_Sign1/);
    const recordSign1 = createSign1({ crypto: w.crypto, alg: "ES256", privateKey: w.identity.privateKey, payload: encodeRecord(record(1)), protectedHeaders: new Map([[3, CONTENT_TYPE_RECORD]]), unprotectedHeaders: new Map([[4, DEVICE]]) });
    assert.throws(() => w.sealer.sealSigned(1, recordSign1), /content type 65006/);
    const command = signCommand(w.crypto, "ES256", w.identity.privateKey, { role: "maintainer", deviceId: DEVICE, commandId: 1, expiresMs: NOW, args: { op: "rotate-keys" } });
    assert.throws(() => w.sealer.sealSigned(1, command), /content type 65001/);
    assert.throws(() => w.sealer.sealSigned(1, signResult(w.crypto, "ES256", w.identity.privateKey, result({ deviceId: other }))), /does not name this device/);
    w.sealer.sealSigned(5, w.signResult());
    assert.throws(() => w.sealer.seal(record(5)), /not after 5/);
    assert.throws(() => w.sealer.sealSigned(4, w.signResult()), /not after 5/);
    const fresh = new FrameSealer({ crypto: w.crypto, deviceId: DEVICE, identityPrivateKey: w.identity.privateKey, signatureAlg: "ES256", gatewayPublicKey: w.gateway.publicKey, gatewayKeyId: new Uint8Array([1]), agreementAlg: "P-256" });
    assert.throws(() => fresh.sealSigned(0, w.signResult()), /no epoch is open/);
  });

  it("the content type decides what a signature covers: a result signed over the frame's AAD, or a record over an empty one, is bad-signature", () => {
    const w = world();
    const ext = frameExternalAad(DEVICE, EPOCH);
    const sign = (payload: Uint8Array, ct: number, aad: Uint8Array) =>
      createSign1({ crypto: w.crypto, alg: "ES256", privateKey: w.identity.privateKey, payload, externalAad: aad, protectedHeaders: new Map([[3, ct]]), unprotectedHeaders: new Map([[4, DEVICE]]) });
    const o = w.opener();
    // The payload of a genuine result, signed over the frame's AAD instead of an empty one.
    const payload = encodeCbor(new Map<CborKey, CborValue>([[1, DEVICE], [2, 7], [3, "ok"], [4, "rotate-keys"], [5, "maintainer"], [6, NOW], [7, new Map()]]));
    expectReject(o.accept(w.craft(10, sign(payload, CONTENT_TYPE_RESULT, ext))), "bad-signature", "result over the frame AAD:");
    expectReject(o.accept(w.craft(11, sign(encodeRecord(record(11)), CONTENT_TYPE_RECORD, new Uint8Array(0)))), "bad-signature", "record over an empty AAD:");
    // A record's bytes under the result content type (signed as a result) are no result.
    expectReject(o.accept(w.craft(12, sign(encodeRecord(record(12)), CONTENT_TYPE_RESULT, new Uint8Array(0)))), "malformed", "record bytes as a result:");
    // The right way round, both open.
    assert.equal(o.accept(w.craft(13, sign(payload, CONTENT_TYPE_RESULT, new Uint8Array(0)))).kind, "result");
    assert.equal(o.accept(w.craft(14, sign(encodeRecord(record(14)), CONTENT_TYPE_RECORD, ext))).kind, "record");
  });

  it("an unknown, missing or misplaced content type is malformed; another device's result is inconsistent or malformed", () => {
    const w = world();
    const o = w.opener();
    const payload = encodeCbor(new Map<CborKey, CborValue>([[1, DEVICE], [2, 7], [3, "ok"], [4, "rotate-keys"], [5, "maintainer"], [6, NOW], [7, new Map()]]));
    const sign = (p: Map<number, CborValue>, u: Map<number, CborValue> = new Map([[4, DEVICE]]), body = payload) =>
      createSign1({ crypto: w.crypto, alg: "ES256", privateKey: w.identity.privateKey, payload: body, protectedHeaders: p, unprotectedHeaders: u });
    expectReject(o.accept(w.craft(1, sign(new Map()))), "malformed", "no content type:");
    for (const ct of [CONTENT_TYPE_ANNOUNCEMENT, CONTENT_TYPE_COMMAND, 65099, 0, "application/cbor"]) {
      expectReject(o.accept(w.craft(2, sign(new Map<number, CborValue>([[3, ct]])))), "malformed", `content type ${String(ct)}:`);
    }
    expectReject(o.accept(w.craft(3, sign(new Map([[3, CONTENT_TYPE_RESULT], [4, DEVICE as CborValue]]), new Map()))), "malformed", "kid in the protected bucket:");
    expectReject(o.accept(w.craft(4, sign(new Map([[3, CONTENT_TYPE_RESULT]]), new Map<number, CborValue>([[4, DEVICE], [5, new Uint8Array(12)]])))), "malformed", "an extra header:");
    const other = new Uint8Array(DEVICE);
    other[0] ^= 1;
    expectReject(o.accept(w.craft(5, sign(new Map([[3, CONTENT_TYPE_RESULT]]), new Map([[4, other]])))), "inconsistent", "inner kid of another device:");
    const otherPayload = encodeCbor(new Map<CborKey, CborValue>([[1, other], [2, 7], [3, "ok"], [4, "rotate-keys"], [5, "maintainer"], [6, NOW], [7, new Map()]]));
    expectReject(o.accept(w.craft(6, sign(new Map([[3, CONTENT_TYPE_RESULT]]), undefined, otherPayload))), "malformed", "payload of another device:");
    const status = w.signStatus({ outcome: "confirmed" });
    assert.equal(o.accept(w.craft(7, status)).kind, "update-status");
    // An announcement without its content type (as before this version) is malformed.
    const oldStyle = createSign1({ crypto: w.crypto, alg: "ES256", privateKey: w.identity.privateKey, payload: new Uint8Array([0xa0]), unprotectedHeaders: new Map([[4, DEVICE]]) });
    expectReject(w.opener().accept(oldStyle), "malformed", "announcement without content type:");
  });

  it("padding: a length that is no multiple of 64, a non-zero padding byte, or no padding room for the message are malformed", () => {
    const w = world();
    const o = w.opener();
    const inner = w.signResult();
    expectReject(o.accept(w.craft(1, inner, (x) => x)), "malformed", "unpadded:");
    expectReject(o.accept(w.craft(2, inner, (x) => padPlaintext(x, 512).subarray(0, 511))), "malformed", "511 bytes:");
    expectReject(o.accept(w.craft(3, inner, (x) => { const p = padPlaintext(x, 512); p[511] = 1; return p; })), "malformed", "last byte 1:");
    expectReject(o.accept(w.craft(4, inner, (x) => { const p = padPlaintext(x, 512); p[x.length] = 0x80; return p; })), "malformed", "first padding byte 0x80:");
    expectReject(o.accept(w.craft(5, inner, (x) => { const p = padPlaintext(x, 512); return p.subarray(1); })), "malformed", "a byte cut at the front:");
    // The padding is the sender's choice beyond the minimum: 1024 bytes opens too.
    assert.equal(o.accept(w.craft(6, inner, (x) => padPlaintext(x, 1024))).kind, "result");
    assert.equal(o.accept(w.craft(7, inner, (x) => padPlaintext(x, padBlocks(x.length)))).kind, "result");
  });

  it("every single-bit flip of a sealed result is rejected (exhaustive)", () => {
    const w = world();
    const frame = w.sealer.sealSigned(1, w.signResult());
    const o = w.opener();
    for (let bit = 0; bit < frame.length * 8; bit++) {
      const t = frame.slice();
      t[bit >> 3] ^= 0x80 >> (bit & 7);
      assertTypedRejection(o.accept(t), `flip of bit ${bit}`);
    }
    assert.equal(o.accept(frame).kind, "result", "the original still opens");
  });
});

describe("size classes (docs/protocol.md 6.1)", () => {
  const w = world();
  const worstReading = (i: number): Reading =>
    i % 2
      ? { seq: 0xffffffff, timeMs: 8_640_000_000_000_000, hrBpm: null, hrReason: 15, hrQuality: 100, tempC: -55, flags: 0xffff, alerts: 0xff }
      : { seq: 0xffffffff, timeMs: 8_640_000_000_000_000, hrBpm: 300, hrQuality: 100, tempC: 150, flags: 0xffff, alerts: 0xff };
  const inner = (rec: RecordV1) =>
    createSign1({ crypto: w.crypto, alg: "ES256", privateKey: w.identity.privateKey, payload: encodeRecord(rec), protectedHeaders: new Map([[3, CONTENT_TYPE_RECORD]]), unprotectedHeaders: new Map([[4, DEVICE]]) });

  it("the largest record of N readings (N = 0..64) fits the class of N, and the worst reading is 35 bytes", () => {
    const base: RecordV1 = { schema: 1, frameSeq: 0xffffffffff, firmwareVersion: "v".repeat(32), readings: [] };
    let previous = inner(base).length;
    assert.ok(previous <= RECORD_FIXED_MAX_BYTES, `an empty record's COSE_Sign1 is ${previous} bytes`);
    for (let n = 1; n <= 64; n++) {
      const rec = { ...base, readings: Array.from({ length: n }, (_, i) => worstReading(i)) };
      const len = inner(rec).length;
      assert.ok(len - previous <= READING_MAX_BYTES + 1, `reading ${n} adds ${len - previous} bytes`);
      assert.ok(len <= RECORD_FIXED_MAX_BYTES + READING_MAX_BYTES * n, `${n} readings: ${len} bytes`);
      assert.equal(recordPaddedLength(len, n), padBlocks(RECORD_FIXED_MAX_BYTES + READING_MAX_BYTES * n));
      previous = len;
    }
    assert.equal(recordPaddedLength(1, 5), 320);
    assert.equal(recordPaddedLength(1, 1), 192);
    assert.equal(recordPaddedLength(1, 60), 2304);
  });

  it("every result but read-security-log's, and every status report, fits 512 bytes; every read-security-log result 3392", () => {
    const longest = result({
      commandId: 0x7fffffff,
      status: "not-permitted",
      op: "set-alert-thresholds",
      role: "maintainer",
      deviceTimeMs: 8_640_000_000_000_000,
      body: new Map<CborKey, CborValue>([["detail", "\u00e9".repeat(60)]]),
    });
    assert.equal(utf8Encode("\u00e9".repeat(60)).length, 120);
    const r = signResult(w.crypto, "ES256", w.identity.privateKey, longest);
    assert.ok(r.length <= MESSAGE_PADDED_LENGTH, `result ${r.length} bytes`);
    const s = encodeUpdateStatus(w.crypto, "ES256", w.identity.privateKey, status({ outcome: "pending-reboot", reason: "r".repeat(40), version: "v".repeat(40), sequence: 0xffffffff, offset: 0x7fffffff, detail: "\u00e9".repeat(200), running: "w".repeat(40) }));
    assert.ok(s.length <= MESSAGE_PADDED_LENGTH, `status ${s.length} bytes`);
    // At most 16 entries and 3000 bytes of them (firmware/security/security-log.ts read).
    for (const sizes of [Array(16).fill(187), Array(11).fill(272), [...Array(15).fill(24), 2640], Array(1).fill(3000)]) {
      assert.ok(sizes.reduce((a, b) => a + b, 0) <= 3000);
      const entries = sizes.map((n: number) => new Uint8Array(n).fill(0x42));
      const log = signResult(w.crypto, "ES256", w.identity.privateKey, result({ commandId: 0x7fffffff, op: "read-security-log", deviceTimeMs: 8_640_000_000_000_000, body: new Map<CborKey, CborValue>([["entries", entries], ["next", 0x7fffffff], ["head", new Uint8Array(32)]]) }));
      assert.ok(log.length <= LOG_RESULT_PADDED_LENGTH, `log result of ${sizes.length} entries: ${log.length} bytes`);
    }
  });
});

describe("the new parsers never throw (property tests)", () => {
  it("unpadPlaintext: any input gives the message or a typed error; padding is canonical", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (b) => {
        const r = unpadPlaintext(b);
        if (r.ok) {
          assert.equal(b.length % PAD_BLOCK, 0);
          assert.ok(b.subarray(r.inner.length).every((x) => x === 0));
        } else assert.ok(["bad-length", "bad-content", "bad-padding"].includes(r.code), r.code);
      }),
      { numRuns: 3000 },
    );
    // Whatever the message, padding then unpadding gives it back, and one non-zero padding byte is refused.
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat({ max: 3 }), (content, at, v, extra) => {
        const message = new CborWriter(64).tag(18).bytes(content).toBytes();
        const length = padBlocks(message.length) + extra * PAD_BLOCK;
        const padded = padPlaintext(message, length);
        const back = unpadPlaintext(padded);
        assert.ok(back.ok && toHex(back.inner) === toHex(message));
        if (length > message.length) {
          const bad = padded.slice();
          bad[message.length + (at % (length - message.length))] = v;
          const r = unpadPlaintext(bad);
          assert.ok(!r.ok && r.code === "bad-padding");
        }
        const short = unpadPlaintext(padded.subarray(0, length - 1));
        assert.ok(!short.ok && short.code === "bad-length");
      }),
    );
    assert.throws(() => padPlaintext(new Uint8Array(70), 64), RangeError);
    assert.throws(() => padPlaintext(new Uint8Array(10), 100), RangeError);
  });

  it("parseResultPayload and parseUpdateStatusPayload: typed errors on any bytes, and on any CBOR value", () => {
    const value: fc.Arbitrary<CborValue> = fc.letrec<{ v: CborValue }>((tie) => ({
      v: fc.oneof(
        { depthSize: "small" },
        fc.integer({ min: -1000, max: 1 << 40 }),
        fc.string({ maxLength: 20 }),
        fc.uint8Array({ maxLength: 12 }),
        fc.constantFrom<CborValue>(true, false, null, "ok", "accepted", DEVICE),
        fc.array(tie("v"), { maxLength: 4 }),
        fc.array(fc.tuple(fc.oneof(fc.integer({ min: 0, max: 9 }), fc.string({ maxLength: 6 })), tie("v")), { maxLength: 9 }).map((kv) => new Map<CborKey, CborValue>(kv)),
      ),
    })).v;
    const check = (bytes: Uint8Array) => {
      const r = parseResultPayload(bytes, DEVICE);
      if (!r.ok) assert.equal(r.reason, "malformed");
      const s = parseUpdateStatusPayload(bytes, DEVICE);
      if (!s.ok) assert.equal(s.error.code, "malformed");
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { numRuns: 3000 });
    fc.assert(
      fc.property(value, (v) => {
        let bytes: Uint8Array;
        try {
          bytes = encodeCbor(v);
        } catch {
          return; // duplicate map keys and the like: not encodable
        }
        check(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it("the opener on mutated sealed results and reports: a typed answer, never an exception, state unchanged on rejection", () => {
    const w = world();
    const frames = [w.sealer.sealSigned(1, w.signResult()), w.sealer.sealSigned(2, w.signStatus())];
    const mutation = fc.record({
      which: fc.constantFrom(0, 1),
      edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
    });
    const o = w.opener();
    fc.assert(
      fc.property(mutation, (m) => {
        const t = frames[m.which].slice();
        for (const [at, v] of m.edits) t[at % t.length] = v;
        const bytes = m.cut === undefined ? t : t.subarray(0, m.cut % t.length);
        // An edit that writes the byte already there changes nothing: the frame would open (and
        // be spent), which is right but not what this property is about.
        if (toHex(bytes) === toHex(frames[m.which])) return;
        const r = o.accept(bytes);
        assert.equal(r.kind, "rejected", "a changed frame never opens");
      }),
      { numRuns: 1500 },
    );
    // Nothing was accepted, so both still open, once.
    assert.equal(o.accept(frames[0]).kind, "result");
    { const last = o.accept(frames[1]); assert.equal(last.kind, "update-status", JSON.stringify(last)); }
  });

  it("the opener on frames whose inner message has random headers and payloads: a typed answer", () => {
    const w = world();
    const o = w.opener();
    let n = 100;
    const header = fc.array(fc.tuple(fc.integer({ min: -2, max: 8 }), fc.oneof(fc.integer({ min: 65000, max: 65010 }), fc.uint8Array({ maxLength: 9 }), fc.constant<CborValue>(DEVICE), fc.string({ maxLength: 4 }))), { maxLength: 4 });
    fc.assert(
      fc.property(header, header, fc.uint8Array({ maxLength: 80 }), (p, u, payload) => {
        let inner: Uint8Array;
        try {
          inner = createSign1({ crypto: w.crypto, alg: "ES256", privateKey: w.identity.privateKey, payload, protectedHeaders: new Map<CborKey, CborValue>(p), unprotectedHeaders: new Map<CborKey, CborValue>(u) });
        } catch {
          return;
        }
        const r = o.accept(w.craft(n++, inner));
        if (r.kind === "rejected") assert.ok(REJECT_REASONS.includes(r.reason));
        else assert.ok(["record", "result", "update-status"].includes(r.kind));
      }),
      { numRuns: 300 },
    );
  });
});
