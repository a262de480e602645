/**
 * Update manifests, status reports and update-characteristic messages: round trips, the
 * signature checked before the payload, and arbitrary or mutated bytes never making a decoder
 * throw (fast-check).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { encodeCbor } from "../protocol/cbor.js";
import {
  decodeManifestPayload,
  encodeManifestPayload,
  encodeUpdateStatus,
  inspectManifest,
  signManifest,
  verifyManifest,
  verifyUpdateStatus,
  type UpdateManifest,
} from "../protocol/update-manifest.js";
import { decodeAck, decodeTransferMessage, encodeAck, encodeTransferMessage } from "../protocol/update-transfer.js";
import { seededBytes } from "../host/sim/sim-keys.js";

const crypto = new NobleCrypto(seededBytes(9, "manifest-test"));
const release = crypto.signatureKeyPair("ES256");
const other = crypto.signatureKeyPair("ES256");
const trusted = { publicKey: release.publicKey, alg: "ES256" as const };

const base: UpdateManifest = {
  sequence: 7,
  vendorId: new Uint8Array(16).fill(1),
  classId: new Uint8Array(16).fill(2),
  version: "2.1.0",
  imageSize: 123456,
  imageDigest: new Uint8Array(32).fill(3),
  minBatteryPercent: 30,
  imageName: "image.bin",
};

function sign(m: UpdateManifest, key = release): Uint8Array {
  return signManifest({ crypto, alg: "ES256", privateKey: key.privateKey, publicKey: key.publicKey, manifest: m });
}

describe("update manifest", () => {
  const signed = sign(base);

  it("round-trips through sign and verify, and stays small", () => {
    const r = verifyManifest(crypto, signed, trusted);
    assert.ok(r.ok);
    assert.deepEqual(r.manifest, base);
    assert.ok(signed.length < 240, `${signed.length} bytes`);
    const bare = { ...base, minBatteryPercent: 0, imageName: null };
    const r2 = verifyManifest(crypto, sign(bare), trusted);
    assert.ok(r2.ok);
    assert.deepEqual(r2.manifest, bare);
  });

  it("names an unknown key and a bad signature apart", () => {
    const byOther = verifyManifest(crypto, sign(base, other), trusted);
    assert.ok(!byOther.ok);
    assert.equal(byOther.error.code, "unknown-key");
    const tampered = signed.slice();
    tampered[tampered.length - 70] ^= 1; // inside the payload
    const t = verifyManifest(crypto, tampered, trusted);
    assert.ok(!t.ok);
    assert.equal(t.error.code, "bad-signature");
  });

  it("every single-bit flip is rejected", () => {
    for (let i = 0; i < signed.length; i++) {
      for (let bit = 0; bit < 8; bit += 7) {
        const b = signed.slice();
        b[i] ^= 1 << bit;
        const r = verifyManifest(crypto, b, trusted);
        assert.ok(!r.ok, `flip at byte ${i} bit ${bit} accepted`);
      }
    }
  });

  it("payload fields are checked strictly", () => {
    assert.equal((decodeManifestPayload(encodeCbor(new Map([[1, 2]]))) as { ok: false; error: { code: string } }).error.code, "bad-field");
    assert.equal((decodeManifestPayload(encodeCbor([1, 2])) as { ok: false; error: { code: string } }).error.code, "malformed");
    const extra = encodeManifestPayload(base).slice();
    extra[0] += 1; // claims one more map entry than there is
    assert.ok(!decodeManifestPayload(extra).ok);
    assert.throws(() => encodeManifestPayload({ ...base, imageDigest: new Uint8Array(31) }), RangeError);
    assert.ok(inspectManifest(signed).ok);
  });

  it("arbitrary bytes and mutations never throw (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = verifyManifest(crypto, bytes, trusted);
        assert.equal(r.ok, false);
        decodeManifestPayload(bytes);
        inspectManifest(bytes);
        verifyUpdateStatus(crypto, bytes, () => null);
        decodeTransferMessage(bytes);
        decodeAck(bytes);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.nat(signed.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(signed.length), (i, x, cut) => {
        const b = signed.slice(0, Math.max(cut, i + 1));
        b[i] ^= x;
        assert.equal(verifyManifest(crypto, b, trusted).ok, false);
      }),
      { numRuns: 300 },
    );
  });
});

describe("update status reports", () => {
  const deviceKey = crypto.signatureKeyPair("ES256");
  const deviceId = new Uint8Array(8).fill(5);
  const status = { deviceId, outcome: "rejected" as const, reason: "stale-sequence", version: "1.0.0", sequence: 1, offset: 0, detail: "sequence 1 is not above the installed 2", running: "2.0.0" };
  const lookup = (id: Uint8Array) => (id[0] === 5 ? { publicKey: deviceKey.publicKey, alg: "ES256" as const } : null);

  it("verifies with the device key and refuses a forgery", () => {
    const signed = encodeUpdateStatus(crypto, "ES256", deviceKey.privateKey, status);
    const r = verifyUpdateStatus(crypto, signed, lookup);
    assert.ok(r.ok);
    assert.deepEqual(r.status, status);
    const forged = encodeUpdateStatus(crypto, "ES256", other.privateKey, status);
    const f = verifyUpdateStatus(crypto, forged, lookup);
    assert.ok(!f.ok);
    assert.equal(f.error.code, "bad-signature");
    assert.equal((verifyUpdateStatus(crypto, sign(base), lookup) as { ok: false; error: { code: string } }).error.code, "not-status");
  });
});

describe("update characteristic messages", () => {
  it("round-trip and refuse malformed writes", () => {
    const msgs = [
      { kind: "offer", manifest: new Uint8Array([1, 2, 3]) },
      { kind: "chunk", offset: 4096, data: new Uint8Array(200).fill(7) },
      { kind: "finish" },
      { kind: "query" },
      { kind: "fetch", url: "http://127.0.0.1:8070/manifest.cbor" },
      { kind: "abort" },
    ] as const;
    for (const m of msgs) {
      const d = decodeTransferMessage(encodeTransferMessage(m));
      assert.ok(d.ok);
      assert.deepEqual(d.message, m);
    }
    assert.ok(!decodeTransferMessage(encodeCbor([2, -1, new Uint8Array(1)])).ok);
    assert.ok(!decodeTransferMessage(encodeCbor([2, 0, new Uint8Array(0)])).ok);
    assert.ok(!decodeTransferMessage(encodeCbor([9])).ok);
    assert.deepEqual(decodeAck(encodeAck({ offset: 12, state: "receiving", reason: "" })), { offset: 12, state: "receiving", reason: "" });
  });
});
