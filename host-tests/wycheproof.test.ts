/**
 * Runs NobleCrypto (portable) and NodeCrypto (host) against the C2SP Wycheproof vectors in ../shared/vectors/wycheproof for every
 * algorithm the Crypto interface has. Valid cases must give the exact output, invalid cases must
 * be rejected, acceptable cases may go either way (counted). Cases outside the interface (other
 * key or nonce sizes) are skipped and counted.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import type { AeadAlgorithm, Crypto, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import { NodeCrypto } from "../host/crypto/node-crypto.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const vectorsDir = resolve(repoRoot, "../shared/vectors");
const wycheproofDir = join(vectorsDir, "wycheproof");

interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  result: "valid" | "invalid" | "acceptable";
  [field: string]: unknown;
}

interface WycheproofGroup {
  tests: WycheproofTest[];
  [field: string]: unknown;
}

interface WycheproofFile {
  algorithm: string;
  testGroups: WycheproofGroup[];
}

interface Tally {
  passed: number;
  acceptable: number;
  skipped: number;
  skipReasons: Map<string, number>;
  failures: string[];
}

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

function hex(s: unknown): Uint8Array {
  assert.equal(typeof s, "string");
  return new Uint8Array(Buffer.from(s as string, "hex"));
}

function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

function load(name: string): WycheproofFile {
  return JSON.parse(readFileSync(join(wycheproofDir, name), "utf8")) as WycheproofFile;
}

/**
 * Runs one file. `run` says whether the implementation accepted the case (and, for
 * computations, whether the output matched) or that the case is outside the interface.
 */
function runFile(
  name: string,
  run: (t: WycheproofTest, g: WycheproofGroup) => { outcome: "accepted" | "rejected" | "skip"; matches?: boolean; note?: string },
): Tally {
  const file = load(name);
  const tally: Tally = { passed: 0, acceptable: 0, skipped: 0, skipReasons: new Map(), failures: [] };
  for (const g of file.testGroups) {
    for (const t of g.tests) {
      let r: ReturnType<typeof run>;
      try {
        r = run(t, g);
      } catch (e) {
        r = { outcome: "rejected", note: `threw ${String(e)}` };
      }
      if (r.outcome === "skip") {
        tally.skipped++;
        const why = r.note ?? "outside the interface";
        tally.skipReasons.set(why, (tally.skipReasons.get(why) ?? 0) + 1);
      } else if (t.result === "acceptable") {
        tally.acceptable++;
      } else if (t.result === "valid") {
        if (r.outcome === "accepted" && r.matches !== false) tally.passed++;
        else tally.failures.push(`tcId ${t.tcId} (valid, ${t.comment}): ${r.outcome}${r.matches === false ? " with a different output" : ""} ${r.note ?? ""}`);
      } else {
        if (r.outcome === "rejected" || r.matches === false) tally.passed++;
        else tally.failures.push(`tcId ${t.tcId} (invalid, ${t.comment} [${t.flags.join(",")}]): accepted`);
      }
    }
  }
  return tally;
}

function report(name: string, t: Tally): void {
  const extra = t.skipped > 0 ? ` (${[...t.skipReasons].map(([why, n]) => `${n} ${why}`).join("; ")})` : "";
  console.log(`      ${name}: ${t.passed} passed, ${t.acceptable} acceptable, ${t.skipped} skipped${extra}`);
  assert.deepEqual(t.failures, [], `${name}: ${t.failures.length} failures`);
  assert.ok(t.passed > 0, `${name}: no case ran`);
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

const present = existsSync(wycheproofDir);

for (const [implName, impl] of implementations)
describe(`Wycheproof (${implName})`, function () {
  before(() => {
    crypto = impl;
  });
  if (!present) {
    it("is skipped: the vectors folder is missing", function () {
      console.log(`      Wycheproof skipped: ${wycheproofDir} does not exist (the conformance vectors live beside the repository in ../shared/vectors)`);
      this.skip();
    });
    return;
  }

  it("aes_gcm_test.json (A128GCM: 128-bit keys, 96-bit nonces)", () => {
    const t = runFile("aes_gcm_test.json", aeadCase("A128GCM", 16));
    report("aes_gcm_test.json", t);
  });

  it("chacha20_poly1305_test.json", () => {
    const t = runFile("chacha20_poly1305_test.json", aeadCase("ChaCha20/Poly1305", 32));
    report("chacha20_poly1305_test.json", t);
  });

  it("ecdsa_secp256r1_sha256_p1363_test.json (ES256, raw r||s)", () => {
    const t = runFile(
      "ecdsa_secp256r1_sha256_p1363_test.json",
      signatureCase("ES256", (g) => hex((g.publicKey as { uncompressed: string }).uncompressed)),
    );
    report("ecdsa_secp256r1_sha256_p1363_test.json", t);
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

  it("files outside the Crypto interface are listed as skipped", () => {
    const outside: Record<string, string> = {
      "aes_ccm_test.json": "AES-CCM is not in the Crypto interface",
      "xchacha20_poly1305_test.json": "XChaCha20-Poly1305 is not in the Crypto interface",
      "ecdsa_secp256r1_sha256_test.json": "DER-encoded ECDSA signatures; the interface takes raw r||s (covered by the P1363 file)",
    };
    for (const [name, why] of Object.entries(outside)) {
      if (!existsSync(join(wycheproofDir, name))) continue;
      const file = load(name);
      const cases = file.testGroups.reduce((n, g) => n + g.tests.length, 0);
      console.log(`      ${name}: 0 passed, ${cases} skipped (${why})`);
    }
  });
});
