/**
 * Runs NobleCrypto (portable) and NodeCrypto (host) against the C2SP Wycheproof vectors vendored
 * in host-tests/vectors/wycheproof for every algorithm the Crypto interface has. Valid cases must
 * give the exact output, invalid cases must be rejected, acceptable cases may go either way
 * (counted). Cases outside the interface (other key or nonce sizes) are skipped and counted.
 * The device implementation runs the same files in the SDK simulator (device-crypto.test.ts).
 *
 * One deliberate deviation: we accept only low-S ES256 signatures (s <= n/2), like Bitcoin's
 * BIP-62 / libsecp256k1, so the ECDSA file's valid cases with s > n/2 must be rejected (and their
 * low-S twins (r, n - s) accepted); every other expectation is Wycheproof's
 * (`withLowSRule` in support/wycheproof.ts).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import type { AeadAlgorithm, Crypto, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import { NodeCrypto } from "../host/crypto/node-crypto.js";
import { sTwin } from "./support/ecdsa.js";
import {
  bytesHex as toHex,
  countCase,
  hexBytes as hex,
  loadWycheproof as load,
  newTally,
  reportTally as report,
  withLowSRule,
  wycheproofDir,
  WYCHEPROOF_ES256_VALID_HIGH_S,
  type CaseOutcome,
  type Tally,
  type WycheproofGroup,
  type WycheproofTest,
} from "./support/wycheproof.js";

/** The vendored files, each read by a suite below (the folder must hold exactly these). */
const VENDORED = [
  "aes_gcm_test.json",
  "chacha20_poly1305_test.json",
  "ecdsa_secp256r1_sha256_p1363_test.json",
  "ed25519_test.json",
  "hkdf_sha256_test.json",
  "hmac_sha256_test.json",
  "x25519_test.json",
];

const implementations: [string, Crypto][] = [
  [
    "NobleCrypto",
    new NobleCrypto((n) => {
      // Deterministic bytes: no test here draws randomness for key material.
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = (i * 151 + 17) & 0xff;
      return out;
    }),
  ],
  ["NodeCrypto", new NodeCrypto()],
];
/** The implementation under test (set by each suite's `before`). */
let crypto: Crypto = implementations[0][1];

/**
 * Runs one file. `run` says whether the implementation accepted the case (and, for
 * computations, whether the output matched) or that the case is outside the interface.
 */
function runFile(name: string, run: (t: WycheproofTest, g: WycheproofGroup) => CaseOutcome, expect: (t: WycheproofTest) => WycheproofTest = (t) => t): Tally {
  const file = load(name);
  const tally = newTally();
  for (const g of file.testGroups) {
    for (const original of g.tests) {
      const t = expect(original);
      let r: CaseOutcome;
      try {
        r = run(t, g);
      } catch (e) {
        r = { outcome: "rejected", note: `threw ${String(e)}` };
      }
      countCase(tally, t, r);
    }
  }
  return tally;
}

function aeadCase(alg: AeadAlgorithm, keyBytes: number) {
  return (t: WycheproofTest, g: WycheproofGroup) => {
    if (g.keySize !== keyBytes * 8) return { outcome: "skip" as const, note: `${g.keySize as number}-bit keys (${alg} takes ${keyBytes * 8})` };
    if (g.tagSize !== 128) return { outcome: "skip" as const, note: `${g.tagSize as number}-bit tags` };
    const key = hex(t.key);
    const iv = hex(t.iv);
    const aad = hex(t.aad);
    const msg = hex(t.msg);
    const ctTag = new Uint8Array([...hex(t.ct), ...hex(t.tag)]);
    if (iv.length !== 12) {
      // The interface takes 12-byte nonces only: valid cases with other sizes are out of scope;
      // invalid ones must still be refused.
      if (t.result === "valid") return { outcome: "skip" as const, note: "valid cases with nonces other than 12 bytes" };
      return { outcome: crypto.aeadOpen(alg, key, iv, aad, ctTag) === null ? ("rejected" as const) : ("accepted" as const) };
    }
    const opened = crypto.aeadOpen(alg, key, iv, aad, ctTag);
    if (opened === null) return { outcome: "rejected" as const };
    let matches = toHex(opened) === toHex(msg);
    if (t.result === "valid") matches = matches && toHex(crypto.aeadSeal(alg, key, iv, aad, msg)) === toHex(ctTag);
    return { outcome: "accepted" as const, matches };
  };
}

function signatureCase(alg: SignatureAlgorithm, publicKey: (g: WycheproofGroup) => Uint8Array) {
  return (t: WycheproofTest, g: WycheproofGroup) => {
    const ok = crypto.verify(alg, publicKey(g), hex(t.msg), hex(t.sig));
    return { outcome: ok ? ("accepted" as const) : ("rejected" as const) };
  };
}

describe("Wycheproof: the vendored files", () => {
  it("are exactly the files the suites read, with the recorded SHA-256 sums", () => {
    const present = readdirSync(wycheproofDir).filter((f) => f.endsWith(".json")).sort();
    assert.deepEqual(present, [...VENDORED].sort());
    const sums = new Map(
      readFileSync(join(wycheproofDir, "SHA256SUMS"), "utf8")
        .trim()
        .split("\n")
        .map((line) => line.trim().split(/\s+/) as [string, string])
        .map(([sum, name]) => [name, sum]),
    );
    for (const name of VENDORED) {
      assert.equal(createHash("sha256").update(readFileSync(join(wycheproofDir, name))).digest("hex"), sums.get(name), `${name}: SHA-256 differs from SHA256SUMS`);
    }
  });
});

for (const [implName, impl] of implementations)
describe(`Wycheproof (${implName})`, function () {
  before(() => {
    crypto = impl;
  });

  it("aes_gcm_test.json (A128GCM: 128-bit keys, 96-bit nonces)", () => {
    const t = runFile("aes_gcm_test.json", aeadCase("A128GCM", 16));
    report("aes_gcm_test.json", t);
  });

  it("chacha20_poly1305_test.json", () => {
    const t = runFile("chacha20_poly1305_test.json", aeadCase("ChaCha20/Poly1305", 32));
    report("chacha20_poly1305_test.json", t);
  });

  it("ecdsa_secp256r1_sha256_p1363_test.json (ES256, raw r||s; valid high-S cases must be rejected: low-S only)", () => {
    const t = runFile(
      "ecdsa_secp256r1_sha256_p1363_test.json",
      signatureCase("ES256", (g) => hex((g.publicKey as { uncompressed: string }).uncompressed)),
      withLowSRule,
    );
    report("ecdsa_secp256r1_sha256_p1363_test.json", t);
    // Every other expectation is Wycheproof's: 103 valid low-S cases accepted, the rest refused.
    assert.equal(t.passedValid, 173 - WYCHEPROOF_ES256_VALID_HIGH_S);
    assert.equal(t.passedInvalid, 89 + WYCHEPROOF_ES256_VALID_HIGH_S);
    // Refused for the S half only: the low-S twin (r, n - s) of each of them verifies.
    let twins = 0;
    for (const g of load("ecdsa_secp256r1_sha256_p1363_test.json").testGroups) {
      const key = hex((g.publicKey as { uncompressed: string }).uncompressed);
      for (const c of g.tests) {
        if (c.result !== "valid" || withLowSRule(c) === c) continue;
        twins++;
        assert.ok(crypto.verify("ES256", key, hex(c.msg), sTwin(hex(c.sig))), `tcId ${c.tcId}: the low-S twin verifies`);
      }
    }
    assert.equal(twins, WYCHEPROOF_ES256_VALID_HIGH_S);
  });

  it("ed25519_test.json", () => {
    const t = runFile("ed25519_test.json", signatureCase("EdDSA", (g) => hex((g.publicKey as { pk: string }).pk)));
    report("ed25519_test.json", t);
  });

  it("x25519_test.json", () => {
    const t = runFile("x25519_test.json", (tc) => {
      const shared = crypto.agree("X25519", hex(tc.private), hex(tc.public));
      if (shared === null) return { outcome: "rejected" };
      return { outcome: "accepted", matches: toHex(shared) === tc.shared };
    });
    report("x25519_test.json", t);
  });

  it("hkdf_sha256_test.json", () => {
    const t = runFile("hkdf_sha256_test.json", (tc) => {
      const okm = crypto.hkdfSha256(hex(tc.ikm), hex(tc.salt), hex(tc.info), tc.size as number);
      return { outcome: "accepted", matches: toHex(okm) === tc.okm };
    });
    report("hkdf_sha256_test.json", t);
  });

  it("hmac_sha256_test.json (tags truncated to tagSize)", () => {
    const t = runFile("hmac_sha256_test.json", (tc, g) => {
      const tag = crypto.hmacSha256(hex(tc.key), hex(tc.msg)).subarray(0, (g.tagSize as number) / 8);
      return { outcome: "accepted", matches: toHex(tag) === tc.tag };
    });
    report("hmac_sha256_test.json", t);
  });

  it("files outside the Crypto interface are not vendored", () => {
    const outside: Record<string, string> = {
      "aes_ccm_test.json": "AES-CCM is not in the Crypto interface",
      "xchacha20_poly1305_test.json": "XChaCha20-Poly1305 is not in the Crypto interface",
      "ecdsa_secp256r1_sha256_test.json": "DER-encoded ECDSA signatures; the interface takes raw r||s (covered by the P1363 file)",
    };
    for (const [name, why] of Object.entries(outside)) {
      assert.ok(!VENDORED.includes(name));
      console.log(`      ${name}: not run (${why})`);
    }
  });
});
