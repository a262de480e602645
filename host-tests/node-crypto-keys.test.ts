/**
 * NodeCrypto keeps the OpenSSL key object it made for a public key, found first by the array the
 * caller passes (a gateway passes the same array for every message of a device). An array whose
 * bytes changed since must never verify against the key it held before.
 */
import assert from "node:assert/strict";
import { NodeCrypto } from "../host/crypto/node-crypto.js";
import { seededBytes } from "../host/sim/sim-keys.js";

describe("NodeCrypto public key cache", () => {
  const crypto = new NodeCrypto(seededBytes(7, "node-crypto-keys"));
  const message = new TextEncoder().encode("a frame's Sig_structure");
  for (const alg of ["ES256", "EdDSA"] as const) {
    it(`${alg}: the same array, its bytes replaced by another key, verifies as the new key`, () => {
      const a = crypto.signatureKeyPair(alg);
      const b = crypto.signatureKeyPair(alg);
      const sigA = crypto.sign(alg, a.privateKey, message);
      const sigB = crypto.sign(alg, b.privateKey, message);
      const key = a.publicKey.slice();
      assert.equal(crypto.verify(alg, key, message, sigA), true);
      assert.equal(crypto.verify(alg, key, message, sigB), false);
      key.set(b.publicKey);
      assert.equal(crypto.verify(alg, key, message, sigA), false, "the key object of the old bytes was used");
      assert.equal(crypto.verify(alg, key, message, sigB), true);
      // And back: the first key's object is still found by its bytes.
      key.set(a.publicKey);
      assert.equal(crypto.verify(alg, key, message, sigA), true);
      assert.equal(crypto.verify(alg, key, message, sigB), false);
    });
  }

  it("a view into a larger buffer and a copy of the same bytes verify alike", () => {
    const a = crypto.signatureKeyPair("ES256");
    const sig = crypto.sign("ES256", a.privateKey, message);
    const backing = new Uint8Array(100);
    backing.set(a.publicKey, 10);
    const view = backing.subarray(10, 75);
    assert.equal(crypto.verify("ES256", view, message, sig), true);
    backing[11] ^= 1;
    assert.equal(crypto.verify("ES256", view, message, sig), false);
    assert.equal(crypto.verify("ES256", a.publicKey.slice(), message, sig), true);
  });
});
