/**
 * Frames v1 on Node: every algorithm combination, every rejection reason (with frames built by
 * hand from the COSE primitives, which also checks that the sealer emits exactly the documented
 * structure), replay-state persistence and the sealer's own checks.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import type { AeadAlgorithm, Crypto, KeyAgreementAlgorithm, KeyPair, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import { encodeCbor } from "../protocol/cbor.js";
import { toHex } from "../protocol/bytes.js";
import type { CborValue } from "../protocol/cbor.js";
import { aeadAlgId, createSign1, encodePartialIv, partialIvNonce, sealEncrypt0 } from "../protocol/cose.js";
import {
  DEFAULT_EPOCHS_RETAINED,
  ANNOUNCEMENT_EPOCH_OPEN,
  FrameOpener,
  FrameSealer,
  agreementCurveId,
  deriveEpochKeys,
  frameExternalAad,
  frameKid,
} from "../protocol/frame.js";
import type { EpochKeys, FrameOpenerOptions, OpenResult } from "../protocol/frame.js";
import { encodeRecord } from "../protocol/record.js";
import type { Reading, RecordV1 } from "../protocol/record.js";
import { CONTENT_TYPE_ANNOUNCEMENT, CONTENT_TYPE_RECORD } from "../protocol/content-types.js";
import { padBlocks, padPlaintext } from "../protocol/padding.js";

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

function readings(n: number, start = 0): Reading[] {
  const out: Reading[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      seq: 100000 + start + i,
      timeMs: 1767225600000 + (start + i) * 1000,
      hrBpm: 72.4 + i,
      hrQuality: 95,
      tempC: 33.87,
      flags: 0,
    });
  }
  return out;
}

function record(frameSeq: number, n = 5): RecordV1 {
  return { schema: 1, frameSeq, firmwareVersion: "1.0.0", readings: readings(n, frameSeq * 5) };
}

interface Setup {
  crypto: Crypto;
  deviceId: Uint8Array;
  identity: KeyPair;
  gateway: KeyPair;
  gatewayKeyId: Uint8Array;
  sigAlg: SignatureAlgorithm;
  ka: KeyAgreementAlgorithm;
  aead: AeadAlgorithm;
  /** The ephemeral key pair the sealer will use for every epoch (tests know it to build frames by hand). */
  ephemeral: KeyPair;
  sealer: FrameSealer;
  keysFor(epoch: number): EpochKeys;
  opener(extra?: Partial<FrameOpenerOptions>): FrameOpener;
  /** A frame built by hand; overrides make it wrong in one chosen way. */
  craft(o: {
    epoch: number;
    frameSeq: number;
    recordBytes?: Uint8Array;
    innerKid?: Uint8Array;
    signWith?: Uint8Array;
    signAlg?: SignatureAlgorithm;
    piv?: Uint8Array;
    key?: Uint8Array;
    extraUnprotected?: [number, CborValue][];
    /** Inner protected headers besides alg (default: content type 65006, a record). */
    innerProtected?: [number, CborValue][];
    /** The plaintext from the inner COSE_Sign1 (default: zero-padded to the 5-reading class, 320 bytes). */
    pad?: (inner: Uint8Array) => Uint8Array;
    /** The inner COSE_Sign1's external AAD (default: the frame's). */
    innerAad?: Uint8Array;
  }): Uint8Array;
  /** An announcement built by hand. */
  craftAnnouncement(o: { epoch: number; device?: Uint8Array; kid?: Uint8Array; ephemeral?: Uint8Array; type?: number; protectedHeaders?: [number, CborValue][] }): Uint8Array;
}

function setup(sigAlg: SignatureAlgorithm = "ES256", ka: KeyAgreementAlgorithm = "P-256", aead: AeadAlgorithm = "A128GCM", label = "frame-test"): Setup {
  const base = new NobleCrypto(seeded(`${label}/${sigAlg}/${ka}/${aead}`));
  const deviceId = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1]);
  const identity = base.signatureKeyPair(sigAlg);
  const gateway = base.agreementKeyPair(ka);
  const gatewayKeyId = base.sha256(gateway.publicKey).subarray(0, 8);
  const ephemeral = base.agreementKeyPair(ka);
  const crypto: Crypto = Object.create(base) as Crypto;
  crypto.agreementKeyPair = () => ({ privateKey: ephemeral.privateKey.slice(), publicKey: ephemeral.publicKey.slice() });
  const sealer = new FrameSealer({
    crypto,
    deviceId,
    identityPrivateKey: identity.privateKey,
    signatureAlg: sigAlg,
    gatewayPublicKey: gateway.publicKey,
    gatewayKeyId,
    agreementAlg: ka,
    aeadAlg: aead,
  });
  const keysFor = (epoch: number): EpochKeys => {
    const shared = base.agree(ka, ephemeral.privateKey, gateway.publicKey);
    assert.ok(shared);
    return deriveEpochKeys(base, {
      sharedSecret: shared,
      deviceId,
      identityPublicKey: identity.publicKey,
      epoch,
      aeadAlg: aead,
      agreementAlg: ka,
      signatureAlg: sigAlg,
      ephemeralPublicKey: ephemeral.publicKey,
      gatewayKeyId,
    });
  };
  const s: Setup = {
    crypto: base,
    deviceId,
    identity,
    gateway,
    gatewayKeyId,
    sigAlg,
    ka,
    aead,
    ephemeral,
    sealer,
    keysFor,
    opener: (extra = {}) =>
      new FrameOpener({
        crypto: base,
        gatewayPrivateKey: gateway.privateKey,
        agreementAlg: ka,
        lookupDevice: (id) => (toHex(id) === toHex(deviceId) ? { identityPublicKey: identity.publicKey, signatureAlg: sigAlg } : null),
        ...extra,
      }),
    craft: (o) => {
      const ext = frameExternalAad(deviceId, o.epoch);
      const keys = keysFor(o.epoch);
      const inner = createSign1({
        crypto: base,
        alg: o.signAlg ?? sigAlg,
        privateKey: o.signWith ?? identity.privateKey,
        payload: o.recordBytes ?? encodeRecord(record(o.frameSeq)),
        externalAad: o.innerAad ?? ext,
        protectedHeaders: new Map<number, CborValue>(o.innerProtected ?? [[3, CONTENT_TYPE_RECORD]]),
        unprotectedHeaders: new Map([[4, o.innerKid ?? deviceId]]),
      });
      const piv = o.piv ?? encodePartialIv(o.frameSeq);
      return sealEncrypt0({
        crypto: base,
        alg: aead,
        key: o.key ?? keys.contentKey,
        nonce: partialIvNonce(keys.baseIv, piv),
        // Default: the size class of a 5-reading frame, 320 bytes (docs/protocol.md 6.1).
        plaintext: o.pad ? o.pad(inner) : padPlaintext(inner, Math.max(padBlocks(inner.length), 320)),
        externalAad: ext,
        unprotectedHeaders: new Map<number, CborValue>([[4, frameKid(deviceId, o.epoch)], [6, piv], ...(o.extraUnprotected ?? [])]),
      });
    },
    craftAnnouncement: (o) => {
      const payload = encodeCbor(
        new Map<number, CborValue>([
          [1, o.type ?? ANNOUNCEMENT_EPOCH_OPEN],
          [2, o.device ?? deviceId],
          [3, o.epoch],
          [4, o.ephemeral ?? ephemeral.publicKey],
          [5, gatewayKeyId],
          [6, agreementCurveId(ka)],
          [7, aeadAlgId(aead)],
        ]),
      );
      return createSign1({
        crypto: base,
        alg: sigAlg,
        privateKey: identity.privateKey,
        payload,
        protectedHeaders: new Map<number, CborValue>(o.protectedHeaders ?? [[3, CONTENT_TYPE_ANNOUNCEMENT]]),
        unprotectedHeaders: new Map([[4, o.kid ?? deviceId]]),
      });
    },
  };
  return s;
}

function why(r: OpenResult): string {
  return r.kind === "rejected" ? `${r.reason} (${r.detail})` : r.kind;
}

function expectReject(r: OpenResult, reason: string): void {
  assert.equal(r.kind, "rejected", `expected ${reason}, got ${why(r)}`);
  if (r.kind === "rejected") assert.equal(r.reason, reason, r.detail);
}

function expectRecord(r: OpenResult, frameSeq: number): Extract<OpenResult, { kind: "record" }> {
  assert.equal(r.kind, "record", why(r));
  assert.ok(r.kind === "record");
  assert.equal(r.frameSeq, frameSeq);
  return r;
}

describe("protocol frames v1", function () {
  describe("every algorithm combination", () => {
    for (const sigAlg of ["ES256", "EdDSA"] as const) {
      for (const ka of ["P-256", "X25519"] as const) {
        for (const aead of ["A128GCM", "ChaCha20/Poly1305"] as const) {
          it(`${sigAlg} / ${ka} / ${aead}: seal -> accept, and the documented structure byte for byte`, () => {
            const s = setup(sigAlg, ka, aead);
            const ann = s.sealer.openEpoch(7);
            const frame = s.sealer.seal(record(40));
            assert.equal(toHex(ann), toHex(s.craftAnnouncement({ epoch: 7 })), "announcement structure");
            assert.equal(toHex(frame), toHex(s.craft({ epoch: 7, frameSeq: 40 })), "frame structure");
            const o = s.opener();
            const a = o.accept(ann);
            assert.ok(a.kind === "epoch" && a.epoch === 7 && !a.repeated, why(a));
            const r = expectRecord(o.accept(frame), 40);
            assert.equal(r.epoch, 7);
            assert.equal(r.record.readings.length, 5);
            assert.equal(r.record.readings[0].hrBpm, 72.4);
            assert.equal(r.record.readings[0].tempC, 33.87);
            console.log(`      sizes (5 readings): announcement ${ann.length} B, frame ${frame.length} B, record ${encodeRecord(record(40)).length} B`);
          });
        }
      }
    }
  });

  describe("rejection reasons", () => {
    const s = setup();
    const ann1 = s.sealer.openEpoch(1);
    const f: Uint8Array[] = [];
    for (let q = 10; q <= 14; q++) f[q] = s.sealer.seal(record(q));
    const ann2 = s.sealer.openEpoch(2);
    f[20] = s.sealer.seal(record(20));
    const ready = (extra: Partial<FrameOpenerOptions> = {}) => {
      const o = s.opener(extra);
      assert.equal(o.accept(ann1).kind, "epoch");
      return o;
    };

    it("malformed: not COSE, wrong headers, non-minimal partial IV, bad announcement payload, oversized", () => {
      const o = ready();
      expectReject(o.accept(new Uint8Array([0x00])), "malformed");
      expectReject(o.accept(new Uint8Array([0xd0, 0x80])), "malformed");
      expectReject(o.accept(s.craft({ epoch: 1, frameSeq: 11, extraUnprotected: [[3, 0]] })), "malformed");
      expectReject(o.accept(s.craft({ epoch: 1, frameSeq: 11, piv: new Uint8Array([0, 11]) })), "malformed");
      expectReject(o.accept(s.craftAnnouncement({ epoch: 3, type: 2 })), "malformed");
      const big = new Uint8Array(5000);
      big[0] = 0xd0;
      expectReject(o.accept(big), "malformed");
      expectRecord(o.accept(f[11]), 11);
    });

    it("unknown-device", () => {
      const o = s.opener({ lookupDevice: () => null });
      expectReject(o.accept(ann1), "unknown-device");
      expectReject(o.accept(f[10]), "unknown-device");
    });

    it("unknown-epoch: no announcement yet, or keyed to another gateway key", () => {
      expectReject(s.opener().accept(f[10]), "unknown-epoch");
      const o = ready();
      expectReject(o.accept(f[20]), "unknown-epoch");
      expectReject(s.opener({ gatewayKeyId: new Uint8Array(8) }).accept(ann1), "unknown-epoch");
      assert.equal(s.opener({ gatewayKeyId: s.gatewayKeyId }).accept(ann1).kind, "epoch");
    });

    it("stale-epoch: epochs beyond the retained ones, and older announcements", () => {
      const o = ready({ epochsRetained: 1 });
      assert.equal(o.accept(ann2).kind, "epoch");
      expectReject(o.accept(f[10]), "stale-epoch");
      expectReject(o.accept(ann1), "stale-epoch");
      const keep = ready({ epochsRetained: 2 });
      assert.equal(keep.accept(ann2).kind, "epoch");
      expectRecord(keep.accept(f[20]), 20);
      // a frame of the previous epoch that was still queued arrives late: accepted within the window
      expectRecord(keep.accept(f[14]), 14);
    });

    it("decrypt-failed: wrong content key", () => {
      const o = ready();
      expectReject(o.accept(s.craft({ epoch: 1, frameSeq: 12, key: new Uint8Array(16) })), "decrypt-failed");
      expectRecord(o.accept(f[12]), 12);
    });

    it("bad-signature: another signer, or an algorithm the device is not registered for", () => {
      const other = s.crypto.signatureKeyPair("ES256");
      expectReject(ready().accept(s.craft({ epoch: 1, frameSeq: 12, signWith: other.privateKey })), "bad-signature");
      const ed = s.crypto.signatureKeyPair("EdDSA");
      expectReject(ready().accept(s.craft({ epoch: 1, frameSeq: 12, signWith: ed.privateKey, signAlg: "EdDSA" })), "bad-signature");
      const wrongAlg = s.opener({ lookupDevice: () => ({ identityPublicKey: s.identity.publicKey, signatureAlg: "EdDSA" }) });
      expectReject(wrongAlg.accept(ann1), "bad-signature");
    });

    it("replay and counter-outside-window", () => {
      const o = ready({ replayWindow: 3 });
      expectRecord(o.accept(f[10]), 10);
      expectReject(o.accept(f[10]), "replay");
      expectRecord(o.accept(f[13]), 13);
      expectReject(o.accept(f[10]), "counter-outside-window");
      const late = expectRecord(o.accept(f[11]), 11);
      assert.equal(late.late, true);
      expectReject(o.accept(f[11]), "replay");
      const gap = expectRecord(o.accept(s.craft({ epoch: 1, frameSeq: 100 })), 100);
      assert.equal(gap.gapBefore, 86);
      expectReject(o.accept(f[14]), "counter-outside-window");
    });

    it("unsupported-schema: a validly signed record of another schema", () => {
      const bytes = encodeCbor(new Map<number, CborValue>([[0, 2], [1, 12]]));
      expectReject(ready().accept(s.craft({ epoch: 1, frameSeq: 12, recordBytes: bytes })), "unsupported-schema");
    });

    it("inconsistent: record frameSeq differs from the partial IV, inner kid differs, announcement device differs, epoch re-keyed", () => {
      expectReject(ready().accept(s.craft({ epoch: 1, frameSeq: 12, recordBytes: encodeRecord(record(13)) })), "inconsistent");
      expectReject(ready().accept(s.craft({ epoch: 1, frameSeq: 12, innerKid: new Uint8Array(8) })), "inconsistent");
      expectReject(s.opener().accept(s.craftAnnouncement({ epoch: 1, device: new Uint8Array(8) })), "inconsistent");
      const other = s.crypto.agreementKeyPair("P-256");
      expectReject(ready().accept(s.craftAnnouncement({ epoch: 1, ephemeral: other.publicKey })), "inconsistent");
    });

    it("a repeated announcement is ignored idempotently", () => {
      const o = ready();
      const again = o.accept(ann1);
      assert.ok(again.kind === "epoch" && again.repeated);
      expectRecord(o.accept(f[10]), 10);
      const third = o.accept(ann1);
      assert.ok(third.kind === "epoch" && third.repeated);
      expectReject(o.accept(f[10]), "replay");
    });

    it("replay state survives a restart (no keys are persisted)", () => {
      const o = ready();
      expectRecord(o.accept(f[10]), 10);
      expectRecord(o.accept(f[12]), 12);
      const saved = JSON.parse(JSON.stringify(o.exportReplayState()));
      const restarted = s.opener();
      restarted.importReplayState(saved);
      expectReject(restarted.accept(f[13]), "unknown-epoch"); // keys are gone until the device re-announces
      assert.equal(restarted.accept(ann1).kind, "epoch");
      expectReject(restarted.accept(f[12]), "replay");
      expectRecord(restarted.accept(f[11]), 11);
      expectRecord(restarted.accept(f[13]), 13);
      assert.equal(restarted.accept(ann2).kind, "epoch");
      const retained = restarted.accept(ann1);
      assert.ok(retained.kind === "epoch" && retained.repeated, "epoch 1 is still retained: a repeat is ignored");
      // An older epoch not seen yet opens within the retained window (a gateway that started
      // late); R or more below the newest one it is stale.
      const fresh = s.opener();
      fresh.importReplayState(restarted.exportReplayState());
      assert.equal(fresh.accept(ann1).kind, "epoch");
      const far = s.opener();
      far.importReplayState(restarted.exportReplayState().map((x) => ({ ...x, newestEpoch: 1 + DEFAULT_EPOCHS_RETAINED })));
      expectReject(far.accept(ann1), "stale-epoch");
    });
  });

  describe("sealer checks", () => {
    it("refuses to seal without an epoch, with a non-increasing frameSeq, or a non-increasing epoch", () => {
      const s = setup();
      assert.throws(() => s.sealer.seal(record(1)), /no epoch/);
      s.sealer.openEpoch(5);
      s.sealer.seal(record(3));
      assert.throws(() => s.sealer.seal(record(3)), /not after/);
      assert.throws(() => s.sealer.seal(record(2)), /not after/);
      assert.throws(() => s.sealer.openEpoch(5), /not after/);
      assert.throws(() => s.sealer.openEpoch(2 ** 32), /outside/);
      s.sealer.openEpoch(6);
      assert.throws(() => s.sealer.seal(record(3)), /not after/);
      s.sealer.seal(record(4));
    });

    it("rejects bad construction parameters", () => {
      const s = setup();
      const base = {
        crypto: s.crypto,
        deviceId: s.deviceId,
        identityPrivateKey: s.identity.privateKey,
        signatureAlg: "ES256" as const,
        gatewayPublicKey: s.gateway.publicKey,
        gatewayKeyId: s.gatewayKeyId,
        agreementAlg: "P-256" as const,
      };
      assert.throws(() => new FrameSealer({ ...base, deviceId: new Uint8Array(7) }), /deviceId/);
      assert.throws(() => new FrameSealer({ ...base, gatewayPublicKey: new Uint8Array(32) }), /gateway public key/);
      assert.throws(() => new FrameSealer({ ...base, gatewayKeyId: new Uint8Array(0) }), /gatewayKeyId/);
      const defaults = new FrameSealer(base);
      defaults.openEpoch(1);
      const frame = defaults.seal(record(1));
      assert.equal(frame[3], 0xa1, "protected {alg}");
      assert.equal(frame[5], 0x01, "A128GCM by default");
    });
  });
});
