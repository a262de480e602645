/**
 * The worked example of docs/protocol.md (section 11) must match the code: the listed messages
 * verify with the listed test keys, every listed intermediate is what the code computes, and
 * sealing the example record again reproduces the frame byte for byte.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import type { Crypto } from "../hal/contracts/crypto.js";
import { concatBytes, toHex } from "../protocol/bytes.js";
import { decodeEncrypt0, decodeSign1, encStructure, encodePartialIv, es256IsLowS, partialIvNonce, sigStructure } from "../protocol/cose.js";
import { FrameOpener, FrameSealer, epochKdfInfo, epochKdfSalt, frameExternalAad, frameKid } from "../protocol/frame.js";
import { encodeRecord } from "../protocol/record.js";
import type { RecordV1 } from "../protocol/record.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function exampleValues(): Map<string, string> {
  const doc = readFileSync(resolve(repoRoot, "docs/protocol.md"), "utf8");
  const start = doc.indexOf("```example-v1\n");
  assert.ok(start >= 0, "docs/protocol.md has an example-v1 block");
  const body = doc.slice(start + "```example-v1\n".length, doc.indexOf("\n```", start + 5));
  const values = new Map<string, string>();
  let current = "";
  for (const line of body.split("\n")) {
    const head = /^([a-z][a-z0-9-]*) =\s*([0-9a-f]*)$/.exec(line);
    if (head) {
      current = head[1];
      values.set(current, head[2]);
    } else if (/^\s+[0-9a-f]+$/.test(line) && current) {
      values.set(current, values.get(current) + line.trim());
    } else if (line.trim() !== "") {
      assert.fail(`unexpected line in the example block: ${line}`);
    }
  }
  return values;
}

const RECORD: RecordV1 = {
  schema: 1,
  frameSeq: 300,
  firmwareVersion: "1.0.0",
  readings: [
    { seq: 1500, timeMs: 1767225600000, hrBpm: 72.5, hrQuality: 93, tempC: 33.61, flags: 0 },
    { seq: 1501, timeMs: 1767225601000, hrBpm: null, hrQuality: 0, tempC: 33.6, flags: 1 },
  ],
};

describe("docs/protocol.md worked example", () => {
  const v = exampleValues();
  const b = (name: string): Uint8Array => {
    const h = v.get(name);
    assert.ok(h !== undefined, `example lists ${name}`);
    return new Uint8Array(Buffer.from(h, "hex"));
  };
  const crypto = new NobleCrypto(() => {
    throw new Error("the example needs no randomness");
  });

  it("keys are consistent", () => {
    assert.equal(toHex(crypto.signatureKeyPair("ES256", b("device-identity-private-key")).publicKey), v.get("device-identity-public-key"));
    assert.equal(toHex(crypto.signatureKeyPair("ES256", b("gateway-private-key")).publicKey), v.get("gateway-public-key"));
    assert.equal(toHex(crypto.signatureKeyPair("ES256", b("ephemeral-private-key")).publicKey), v.get("ephemeral-public-key"));
    assert.equal(toHex(crypto.sha256(b("gateway-public-key")).subarray(0, 8)), v.get("gateway-key-id"));
  });

  it("the announcement and the frame verify, and the record is the one described", () => {
    const opener = new FrameOpener({
      crypto,
      gatewayPrivateKey: b("gateway-private-key"),
      agreementAlg: "P-256",
      gatewayKeyId: b("gateway-key-id"),
      lookupDevice: (id) =>
        toHex(id) === v.get("device-id") ? { identityPublicKey: b("device-identity-public-key"), signatureAlg: "ES256" } : null,
    });
    const a = opener.accept(b("announcement"));
    assert.ok(a.kind === "epoch" && a.epoch === 1, JSON.stringify(a));
    const r = opener.accept(b("frame"));
    assert.ok(r.kind === "record", JSON.stringify(r));
    assert.deepEqual(r.record, RECORD);
  });

  it("every intermediate matches the code", () => {
    const deviceId = b("device-id");
    const ann = decodeSign1(b("announcement"));
    assert.ok(ann.ok);
    assert.equal(toHex(ann.value.payload), v.get("announcement-payload"));
    const z = crypto.agree("P-256", b("gateway-private-key"), b("ephemeral-public-key"));
    assert.ok(z);
    assert.equal(toHex(z), v.get("shared-secret"));
    assert.equal(toHex(crypto.agree("P-256", b("ephemeral-private-key"), b("gateway-public-key"))!), v.get("shared-secret"));
    assert.equal(toHex(epochKdfSalt({ deviceId, identityPublicKey: b("device-identity-public-key"), gatewayKeyId: b("gateway-key-id"), epoch: 1 })), v.get("hkdf-salt"));
    const info = epochKdfInfo({ aeadAlg: "A128GCM", agreementAlg: "P-256", signatureAlg: "ES256", ephemeralPublicKey: b("ephemeral-public-key"), gatewayKeyId: b("gateway-key-id") });
    assert.equal(toHex(info), v.get("hkdf-info"));
    const okm = crypto.hkdfSha256(z, b("hkdf-salt"), info, 28);
    assert.equal(toHex(okm.subarray(0, 16)), v.get("content-key"));
    assert.equal(toHex(okm.subarray(16)), v.get("base-iv"));
    assert.equal(toHex(encodeRecord(RECORD)), v.get("record"));
    const ext = frameExternalAad(deviceId, 1);
    assert.equal(toHex(ext), v.get("external-aad"));
    assert.equal(toHex(frameKid(deviceId, 1)), v.get("kid"));
    assert.equal(toHex(encodePartialIv(300)), v.get("partial-iv"));
    assert.equal(toHex(partialIvNonce(b("base-iv"), b("partial-iv"))), v.get("nonce"));
    const frame = decodeEncrypt0(b("frame"));
    assert.ok(frame.ok);
    assert.equal(toHex(encStructure(frame.value.protectedBytes, ext)), v.get("enc-structure"));
    const plaintext = crypto.aeadOpen("A128GCM", b("content-key"), b("nonce"), b("enc-structure"), frame.value.ciphertext);
    assert.ok(plaintext);
    // The plaintext is the inner COSE_Sign1 and zero bytes up to 256, the 2-reading size class (6.1).
    assert.equal(plaintext.length, 256);
    const inner = plaintext.subarray(0, b("inner-sign1").length);
    assert.equal(toHex(inner), v.get("inner-sign1"));
    assert.ok(plaintext.subarray(inner.length).every((x) => x === 0));
    const sig = decodeSign1(inner);
    assert.ok(sig.ok);
    assert.equal(toHex(sigStructure(sig.value.protectedBytes, ext, sig.value.payload)), v.get("sig-structure"));
    assert.ok(crypto.verify("ES256", b("device-identity-public-key"), b("sig-structure"), sig.value.signature));
    // Both signatures of the example are low-S (section 1).
    assert.ok(es256IsLowS(sig.value.signature) && es256IsLowS(ann.value.signature));
  });

  it("sealing the example again reproduces the announcement and the frame", () => {
    const ephemeral = crypto.signatureKeyPair("ES256", b("ephemeral-private-key"));
    const deviceCrypto: Crypto = Object.create(crypto) as Crypto;
    deviceCrypto.agreementKeyPair = () => ({ privateKey: ephemeral.privateKey.slice(), publicKey: ephemeral.publicKey.slice() });
    const sealer = new FrameSealer({
      crypto: deviceCrypto,
      deviceId: b("device-id"),
      identityPrivateKey: b("device-identity-private-key"),
      signatureAlg: "ES256",
      gatewayPublicKey: b("gateway-public-key"),
      gatewayKeyId: b("gateway-key-id"),
      agreementAlg: "P-256",
      aeadAlg: "A128GCM",
    });
    assert.equal(toHex(sealer.openEpoch(1)), v.get("announcement"));
    assert.equal(toHex(sealer.seal(RECORD)), v.get("frame"));
  });
});
