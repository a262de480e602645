/**
 * Every tagged COSE_Sign1 the system signs carries its own content type (header 3), listed once:
 * the registry protocol/content-types.ts, and the table of docs/protocol.md section 18, which
 * must say the same. Each signer is checked to put its number in the protected header, and the
 * receivers to refuse a message without it.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import type { Crypto } from "../hal/contracts/crypto.js";
import { createSign1, decodeSign1 } from "../protocol/cose.js";
import type { HeaderMap } from "../protocol/cose.js";
import {
  CONTENT_TYPES,
  CONTENT_TYPE_ANNOUNCEMENT,
  CONTENT_TYPE_COMMAND,
  CONTENT_TYPE_MANIFEST,
  CONTENT_TYPE_PROVISIONING_RESPONSE,
  CONTENT_TYPE_RECORD,
  CONTENT_TYPE_RESULT,
  CONTENT_TYPE_UPDATE_STATUS,
  SEALED_CONTENT_TYPES,
} from "../protocol/content-types.js";
import * as command from "../protocol/command.js";
import { FrameSealer } from "../protocol/frame.js";
import { encodeUpdateStatus, releaseKeyId, signManifest, verifyManifest, verifyUpdateStatus } from "../protocol/update-manifest.js";
import { unpadPlaintext } from "../protocol/padding.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const crypto = new NobleCrypto((n) => new Uint8Array(n).fill(7));
const deviceId = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
const identity = crypto.signatureKeyPair("ES256");

function protectedOf(signed: Uint8Array): HeaderMap {
  const d = decodeSign1(signed);
  assert.ok(d.ok, "a COSE_Sign1");
  return d.value.protectedHeaders;
}

describe("content types of signed messages (docs/protocol.md section 18)", () => {
  it("the registry: distinct numbers from the experimental range, and section 18's table is the registry", () => {
    const numbers = Object.keys(CONTENT_TYPES).map(Number);
    assert.equal(new Set(numbers).size, numbers.length);
    for (const n of numbers) assert.ok(n >= 65000 && n <= 65535, `${n}`);
    const doc = readFileSync(resolve(repoRoot, "docs/protocol.md"), "utf8");
    const section = doc.slice(doc.indexOf("## 18. Content types"));
    assert.ok(section.length > 100, "section 18 exists");
    const table = new Map<number, string>();
    for (const m of section.matchAll(/^\| (\d{5}) \| ([^|]+?) \|/gm)) table.set(Number(m[1]), m[2].trim());
    assert.deepEqual(Object.fromEntries(table), Object.fromEntries(numbers.map((n) => [n, CONTENT_TYPES[n]])));
    assert.deepEqual([...SEALED_CONTENT_TYPES].sort(), [CONTENT_TYPE_RECORD, CONTENT_TYPE_RESULT, CONTENT_TYPE_UPDATE_STATUS].sort());
    // The command module re-exports the registry's numbers (one source).
    assert.equal(command.CONTENT_TYPE_COMMAND, CONTENT_TYPE_COMMAND);
    assert.equal(command.CONTENT_TYPE_RESULT, CONTENT_TYPE_RESULT);
  });

  it("the provisioning response's number, where that module exists, is the registry's", async () => {
    let mod: { CONTENT_TYPE_PROVISIONING_RESPONSE?: number } | null = null;
    try {
      mod = (await import("../protocol/provisioning.js")) as { CONTENT_TYPE_PROVISIONING_RESPONSE?: number };
    } catch {
      mod = null;
    }
    if (mod?.CONTENT_TYPE_PROVISIONING_RESPONSE !== undefined) assert.equal(mod.CONTENT_TYPE_PROVISIONING_RESPONSE, CONTENT_TYPE_PROVISIONING_RESPONSE);
  });

  it("every signer puts its content type in the protected header", () => {
    const role = crypto.signatureKeyPair("ES256");
    assert.equal(protectedOf(command.signCommand(crypto, "ES256", role.privateKey, { role: "maintainer", deviceId, commandId: 1, expiresMs: 1, args: { op: "rotate-keys" } })).get(3), CONTENT_TYPE_COMMAND);
    const result = command.signResult(crypto, "ES256", identity.privateKey, { deviceId, commandId: 1, status: "ok", op: "rotate-keys", role: "maintainer", deviceTimeMs: 1, body: new Map() });
    assert.equal(protectedOf(result).get(3), CONTENT_TYPE_RESULT);
    const status = encodeUpdateStatus(crypto, "ES256", identity.privateKey, { deviceId, outcome: "confirmed", reason: "", version: "2", sequence: 2, offset: 0, detail: "", running: "2" });
    assert.equal(protectedOf(status).get(3), CONTENT_TYPE_UPDATE_STATUS);
    const release = crypto.signatureKeyPair("ES256");
    const manifest = signManifest({ crypto, alg: "ES256", privateKey: release.privateKey, publicKey: release.publicKey, manifest: { sequence: 2, vendorId: new Uint8Array(16), classId: new Uint8Array(16), version: "2.0.0", imageSize: 10, imageDigest: new Uint8Array(32), minBatteryPercent: 0, imageName: null } });
    assert.equal(protectedOf(manifest).get(3), CONTENT_TYPE_MANIFEST);
    // The announcement, and the record inside a data frame (seen by the AEAD as plaintext).
    const plaintexts: Uint8Array[] = [];
    const spying: Crypto = Object.create(crypto) as Crypto;
    spying.aeadSeal = (alg, key, nonce, aad, plaintext) => {
      plaintexts.push(plaintext.slice());
      return crypto.aeadSeal(alg, key, nonce, aad, plaintext);
    };
    const gateway = crypto.agreementKeyPair("P-256");
    const sealer = new FrameSealer({ crypto: spying, deviceId, identityPrivateKey: identity.privateKey, signatureAlg: "ES256", gatewayPublicKey: gateway.publicKey, gatewayKeyId: new Uint8Array([1]), agreementAlg: "P-256" });
    assert.equal(protectedOf(sealer.openEpoch(1)).get(3), CONTENT_TYPE_ANNOUNCEMENT);
    sealer.seal({ schema: 1, frameSeq: 0, firmwareVersion: "1", readings: [] });
    sealer.sealSigned(1, result);
    sealer.sealSigned(2, status);
    const inner = plaintexts.map((p) => {
      const u = unpadPlaintext(p);
      assert.ok(u.ok);
      return protectedOf(u.inner).get(3);
    });
    assert.deepEqual(inner, [CONTENT_TYPE_RECORD, CONTENT_TYPE_RESULT, CONTENT_TYPE_UPDATE_STATUS]);
  });

  it("receivers refuse a message without its content type: a manifest, a status report", () => {
    const release = crypto.signatureKeyPair("ES256");
    const payload = new Uint8Array([0xa0]);
    const unlabelled = createSign1({ crypto, alg: "ES256", privateKey: release.privateKey, payload, protectedHeaders: new Map([[4, releaseKeyId(crypto, release.publicKey)]]) });
    const m = verifyManifest(crypto, unlabelled, { publicKey: release.publicKey, alg: "ES256" });
    assert.ok(!m.ok && m.error.code === "malformed" && /content type/.test(m.error.message), JSON.stringify(m));
    const textLabelled = createSign1({ crypto, alg: "ES256", privateKey: identity.privateKey, payload, protectedHeaders: new Map([[3, "application/wearable-update-status"]]), unprotectedHeaders: new Map([[4, deviceId]]) });
    const s = verifyUpdateStatus(crypto, textLabelled, () => ({ publicKey: identity.publicKey, alg: "ES256" }));
    assert.ok(!s.ok && s.error.code === "not-status");
  });
});
