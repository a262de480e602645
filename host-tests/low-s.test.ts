/**
 * Canonical ES256 on the host (docs/protocol.md section 1): every signer makes RFC 6979, low-S
 * signatures (the same bytes for the same key and message, whichever implementation), and every
 * verifier path refuses the high-S twin (r, n - s) of a valid signature: announcements and frames
 * at the gateway, command results, commands, update manifests and status reports, with each
 * host Crypto implementation. The device's native path is checked in device-crypto.test.ts, the
 * portable one on Node and XS in portable/crypto.spec.ts.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Crypto } from "../hal/contracts/crypto.js";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { NodeCrypto } from "../host/crypto/node-crypto.js";
import { FleetCrypto } from "../host/fleet/fleet-crypto.js";
import { Gateway } from "../host/gateway/gateway.js";
import { decodeCommand, openResult, signCommand, signResult, verifyCommandSignature } from "../protocol/command.js";
import { FrameSealer } from "../protocol/frame.js";
import { encodeUpdateStatus, signManifest, verifyManifest, verifyUpdateStatus } from "../protocol/update-manifest.js";
import { isHighS, sTwin } from "./support/ecdsa.js";

const random = (n: number) => new Uint8Array(randomBytes(n));
const implementations: [string, Crypto][] = [
  ["NobleCrypto", new NobleCrypto(random)],
  ["NodeCrypto", new NodeCrypto()],
  ["FleetCrypto", new FleetCrypto(random)],
];

/** A tagged COSE_Sign1 with its (trailing, 64-byte) signature replaced by the twin. */
function twinMessage(signed: Uint8Array): Uint8Array {
  const out = signed.slice();
  out.set(sTwin(signed.subarray(signed.length - 64)), signed.length - 64);
  return out;
}

describe("ES256 is canonical on the host: low-S signatures, high-S twins refused", function () {
  this.timeout(120_000);
  const noble = new NobleCrypto(random);

  for (const [name, crypto] of implementations) {
    describe(name, () => {
      it("signs RFC 6979 and low-S: 64 messages under 4 keys give NobleCrypto's bytes, all with s <= n/2", () => {
        const keys = Array.from({ length: 4 }, () => noble.signatureKeyPair("ES256"));
        for (let i = 0; i < 64; i++) {
          const kp = keys[i % 4];
          const msg = random(1 + i * 3);
          const sig = crypto.sign("ES256", kp.privateKey, msg);
          assert.equal(isHighS(sig), false, `signature ${i} is high-S`);
          assert.deepEqual(sig, noble.sign("ES256", kp.privateKey, msg), `signature ${i} differs from NobleCrypto's`);
          assert.deepEqual(crypto.sign("ES256", kp.privateKey, msg), sig, "deterministic");
          assert.ok(crypto.verify("ES256", kp.publicKey, msg, sig));
          assert.equal(crypto.verify("ES256", kp.publicKey, msg, sTwin(sig)), false, `twin of signature ${i} accepted`);
        }
      });

      it("the gateway refuses an announcement and a frame whose signature is the high-S twin", () => {
        const identity = noble.signatureKeyPair("ES256");
        const gateway = noble.agreementKeyPair("P-256");
        const deviceId = random(8);
        let twinNext = false;
        const signer: Crypto = Object.assign(Object.create(crypto) as Crypto, {
          sign: (alg: "ES256", key: Uint8Array, msg: Uint8Array) => {
            const s = crypto.sign(alg, key, msg);
            return twinNext ? sTwin(s) : s;
          },
        });
        const sealer = new FrameSealer({ crypto: signer, deviceId, identityPrivateKey: identity.privateKey, signatureAlg: "ES256", gatewayPublicKey: gateway.publicKey, gatewayKeyId: new Uint8Array([7]), agreementAlg: "P-256" });
        const announcement = sealer.openEpoch(1);
        const record = (frameSeq: number) => ({ schema: 1 as const, frameSeq, firmwareVersion: "1.0.0", readings: [{ seq: frameSeq, timeMs: 1767254400000, hrBpm: 70, hrQuality: 90, tempC: 33.5, flags: 0 }] });
        const good = sealer.seal(record(1));
        twinNext = true;
        const twinFrame = sealer.seal(record(2));
        const g = new Gateway({ crypto, gatewayPrivateKey: gateway.privateKey, agreementAlg: "P-256" });
        g.registerDevice({ deviceId, identityPublicKey: identity.publicKey, signatureAlg: "ES256" });
        const twinAnn = g.receive(twinMessage(announcement));
        assert.ok(twinAnn.kind === "rejected" && twinAnn.reason === "bad-signature", JSON.stringify(twinAnn));
        assert.equal(g.receive(announcement).kind, "epoch");
        assert.equal(g.receive(good).kind, "readings");
        const t = g.receive(twinFrame);
        assert.ok(t.kind === "rejected" && t.reason === "bad-signature", JSON.stringify(t));
      });

      it("command results, commands, update manifests and status reports: the twin is refused", () => {
        const device = noble.signatureKeyPair("ES256");
        const role = noble.signatureKeyPair("ES256");
        const deviceId = random(8);
        const lookup = () => ({ identityPublicKey: device.publicKey, signatureAlg: "ES256" as const });

        const result = signResult(crypto, "ES256", device.privateKey, { deviceId, commandId: 3, status: "ok", op: "rotate-keys", role: "maintainer", deviceTimeMs: 1767254400000, body: new Map() });
        assert.ok(openResult(crypto, result, lookup).ok);
        const r = openResult(crypto, twinMessage(result), lookup);
        assert.ok(!r.ok && r.reason === "bad-signature", JSON.stringify(r));

        const command = signCommand(crypto, "ES256", role.privateKey, { role: "maintainer", deviceId, commandId: 4, expiresMs: 1767254400000, args: { op: "rotate-keys" } });
        const c = decodeCommand(command);
        const ct = decodeCommand(twinMessage(command));
        assert.ok(c.ok && ct.ok);
        assert.equal(verifyCommandSignature(crypto, c.message, role.publicKey, "ES256"), true);
        assert.equal(verifyCommandSignature(crypto, ct.message, role.publicKey, "ES256"), false);

        const manifest = signManifest({
          crypto,
          alg: "ES256",
          privateKey: role.privateKey,
          publicKey: role.publicKey,
          manifest: { sequence: 2, vendorId: new Uint8Array(16).fill(1), classId: new Uint8Array(16).fill(2), version: "2.0.0", imageSize: 1000, imageDigest: new Uint8Array(32).fill(3), minBatteryPercent: 0, imageName: null },
        });
        const trusted = { publicKey: role.publicKey, alg: "ES256" as const };
        assert.ok(verifyManifest(crypto, manifest, trusted).ok);
        const m = verifyManifest(crypto, twinMessage(manifest), trusted);
        assert.ok(!m.ok && m.error.code === "bad-signature", JSON.stringify(m));

        const status = encodeUpdateStatus(crypto, "ES256", device.privateKey, { deviceId, outcome: "confirmed", reason: "", version: "2.0.0", sequence: 2, offset: 0, detail: "", running: "2.0.0" });
        const statusKey = () => ({ publicKey: device.publicKey, alg: "ES256" as const });
        assert.ok(verifyUpdateStatus(crypto, status, statusKey).ok);
        const s = verifyUpdateStatus(crypto, twinMessage(status), statusKey);
        assert.ok(!s.ok && s.error.code === "bad-signature", JSON.stringify(s));
      });
    });
  }
});
