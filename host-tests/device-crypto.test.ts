/**
 * The device's Crypto implementation (hal/moddable/crypto.ts over the native PSA module,
 * hal/moddable/native) in the Moddable SDK's desktop simulator: the conformance app
 * (host/device/crypto-apps/conformance.ts) is built with `mcconfig -p lin`, run headless in
 * mcsim, and driven over loopback TCP. Every computation below happens inside mcsim; the host
 * only compares.
 *
 *   Wycheproof    the vendored AES-GCM, ECDSA P-256 (P1363), HKDF-SHA256 and HMAC-SHA256 files,
 *                 with the rule of wycheproof.test.ts; the counts of passed valid and invalid
 *                 cases are those NobleCrypto and NodeCrypto pass
 *   P-256 ECDH    no Wycheproof file here: cross-checked with node:crypto on random key pairs,
 *                 and invalid peer points (off the curve, wrong length, all zero, the point at
 *                 infinity, coordinates >= p, compressed) must give null
 *   ES256         RFC 6979 A.2.5 (its nonces; s normalised to low-S), the same signatures as
 *                 NobleCrypto and NodeCrypto, every signature low-S, node:crypto verifies them
 *                 and they verify node's (normalised); high-S twins (r, n - s) are refused
 *   keys          seeds (and 48 bytes of a seeded source) give NobleCrypto's keys; PSA random otherwise
 *   frames        the FrameSealer with this implementation, opened by the portable FrameOpener
 *
 * Needs the SDK ($MODDABLE, tools on PATH) and Xvfb (or DISPLAY). Without $MODDABLE the suite
 * skips with one line, unless CI=1: then it fails, as it does when the SDK is set but unusable.
 */
import assert from "node:assert/strict";
import { createECDH, createHash, createPrivateKey, createPublicKey, randomBytes, sign as nodeSign, verify as nodeVerify } from "node:crypto";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { FrameOpener } from "../protocol/frame.js";
import { NodeCrypto } from "../host/crypto/node-crypto.js";
import { cryptoAppPrerequisites, startCryptoApp, type RunningCryptoApp } from "../host/device/crypto-apps.js";
import { bytesHex, countCase, hexBytes, loadWycheproof, newTally, reportTally, withLowSRule, WYCHEPROOF_ES256_VALID_HIGH_S, type CaseOutcome, type Tally, type WycheproofGroup, type WycheproofTest } from "./support/wycheproof.js";
import { isHighS, sTwin } from "./support/ecdsa.js";

type Request = Record<string, unknown> & { op: string };
type Result = { ok: true; value: unknown } | { ok: false; error: string };

const BATCH = 48;
/** P-256 group order n and field prime p. */
const N_HEX = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const P_HEX = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";

let app: RunningCryptoApp | null = null;

async function call(requests: Request[]): Promise<Result[]> {
  const out: Result[] = [];
  for (let i = 0; i < requests.length; i += BATCH) {
    const reply = await app!.connection.request<{ results: Result[] }>({ batch: requests.slice(i, i + BATCH) });
    assert.equal(reply.results.length, Math.min(BATCH, requests.length - i));
    out.push(...reply.results);
  }
  return out;
}

async function one(request: Request): Promise<unknown> {
  const [r] = await call([request]);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

async function fails(request: Request): Promise<string> {
  const [r] = await call([request]);
  assert.ok(!r.ok, `${request.op} should have thrown, gave ${JSON.stringify(r)}`);
  return r.error;
}

/**
 * Runs one Wycheproof file on the device: `plan` turns a case into requests (or a skip),
 * `judge` turns their results into the case's outcome.
 */
async function runFile(
  name: string,
  plan: (t: WycheproofTest, g: WycheproofGroup) => Request[] | CaseOutcome,
  judge: (t: WycheproofTest, g: WycheproofGroup, results: Result[]) => CaseOutcome,
  expect: (t: WycheproofTest) => WycheproofTest = (t) => t,
): Promise<Tally> {
  const file = loadWycheproof(name);
  const cases: { t: WycheproofTest; g: WycheproofGroup; planned: Request[] | CaseOutcome; first: number }[] = [];
  const requests: Request[] = [];
  for (const g of file.testGroups) {
    for (const original of g.tests) {
      const t = expect(original);
      const planned = plan(t, g);
      cases.push({ t, g, planned, first: requests.length });
      if (Array.isArray(planned)) requests.push(...planned);
    }
  }
  const results = await call(requests);
  const tally = newTally();
  for (const c of cases) {
    const outcome = Array.isArray(c.planned) ? judge(c.t, c.g, results.slice(c.first, c.first + c.planned.length)) : c.planned;
    countCase(tally, c.t, outcome);
  }
  return tally;
}

/** A throw counts as a rejection, as in wycheproof.test.ts. */
function accepted(r: Result, matches?: (value: unknown) => boolean): CaseOutcome {
  if (!r.ok) return { outcome: "rejected", note: `threw ${r.error}` };
  if (r.value === null || r.value === false) return { outcome: "rejected" };
  return { outcome: "accepted", matches: matches ? matches(r.value) : undefined };
}

function expectCounts(name: string, t: Tally, valid: number, invalid: number): void {
  reportTally(name, t);
  assert.equal(t.passedValid, valid, `${name}: passed valid cases`);
  assert.equal(t.passedInvalid, invalid, `${name}: passed invalid cases`);
}

/** node:crypto's raw ECDH secret, or null when it refuses the peer key. */
function nodeAgree(privateKeyHex: string, publicKeyHex: string): string | null {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(Buffer.from(privateKeyHex, "hex"));
  try {
    return ecdh.computeSecret(Buffer.from(publicKeyHex, "hex")).toString("hex");
  } catch {
    return null;
  }
}

function nodeKeyPair(): { privateKey: string; publicKey: string } {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  return { privateKey: ecdh.getPrivateKey().toString("hex").padStart(64, "0"), publicKey: ecdh.getPublicKey().toString("hex") };
}

/** JWK of a raw P-256 key pair, for node's sign/verify. */
function p256Jwk(privateKeyHex: string | null, publicKeyHex: string) {
  const pub = Buffer.from(publicKeyHex, "hex");
  const jwk: Record<string, string> = { kty: "EC", crv: "P-256", x: pub.subarray(1, 33).toString("base64url"), y: pub.subarray(33, 65).toString("base64url") };
  if (privateKeyHex) jwk.d = Buffer.from(privateKeyHex, "hex").toString("base64url");
  return jwk;
}

describe("device crypto in the SDK simulator (ModdableCrypto over mbedTLS PSA)", function () {
  this.timeout(300_000);

  before(async function () {
    const sdk = cryptoAppPrerequisites();
    if (typeof sdk === "string") {
      if (!process.env.MODDABLE && !process.env.CI) {
        console.log(`      device crypto skipped: ${sdk}`);
        this.skip();
      }
      throw new Error(`device crypto cannot run${process.env.CI ? " (CI=1: it must not skip)" : ""}: ${sdk}`);
    }
    app = await startCryptoApp("conformance");
  });

  after(async () => {
    await app?.stop();
    app = null;
  });

  describe("Wycheproof", () => {
    it("aes_gcm_test.json (A128GCM: 128-bit keys, 96-bit nonces)", async () => {
      const t = await runFile(
        "aes_gcm_test.json",
        (tc, g) => {
          if (g.keySize !== 128) return { outcome: "skip", note: `${g.keySize as number}-bit keys (A128GCM takes 128)` };
          if (g.tagSize !== 128) return { outcome: "skip", note: `${g.tagSize as number}-bit tags` };
          const iv = String(tc.iv);
          const open = { op: "open", alg: "A128GCM", key: tc.key, nonce: iv, aad: tc.aad, sealed: `${tc.ct as string}${tc.tag as string}` };
          if (iv.length !== 24) {
            // 12-byte nonces only: valid cases with other sizes are out of scope; invalid ones must still be refused.
            if (tc.result === "valid") return { outcome: "skip", note: "valid cases with nonces other than 12 bytes" };
            return [open];
          }
          return tc.result === "valid" ? [open, { op: "seal", alg: "A128GCM", key: tc.key, nonce: iv, aad: tc.aad, plaintext: tc.msg }] : [open];
        },
        (tc, _g, [opened, sealed]) => {
          const r = accepted(opened, (v) => v === tc.msg);
          if (r.outcome === "accepted" && sealed) r.matches = r.matches !== false && sealed.ok && sealed.value === `${tc.ct as string}${tc.tag as string}`;
          return r;
        },
      );
      expectCounts("aes_gcm_test.json", t, 40, 29);
    });

    it("ecdsa_secp256r1_sha256_p1363_test.json (ES256, raw r||s; valid high-S cases must be rejected: low-S only)", async () => {
      const t = await runFile(
        "ecdsa_secp256r1_sha256_p1363_test.json",
        (tc, g) => [{ op: "verify", alg: "ES256", publicKey: (g.publicKey as { uncompressed: string }).uncompressed, message: tc.msg, signature: tc.sig }],
        (_tc, _g, [r]) => accepted(r),
        withLowSRule,
      );
      expectCounts("ecdsa_secp256r1_sha256_p1363_test.json", t, 173 - WYCHEPROOF_ES256_VALID_HIGH_S, 89 + WYCHEPROOF_ES256_VALID_HIGH_S);
    });

    it("hkdf_sha256_test.json", async () => {
      const t = await runFile(
        "hkdf_sha256_test.json",
        (tc) => [{ op: "hkdf", ikm: tc.ikm, salt: tc.salt, info: tc.info, length: tc.size }],
        (tc, _g, [r]) => accepted(r, (v) => v === tc.okm),
      );
      expectCounts("hkdf_sha256_test.json", t, 83, 3);
    });

    it("hmac_sha256_test.json (tags truncated to tagSize)", async () => {
      const t = await runFile(
        "hmac_sha256_test.json",
        (tc) => [{ op: "hmac", key: tc.key, data: tc.msg }],
        (tc, g, [r]) => accepted(r, (v) => String(v).slice(0, ((g.tagSize as number) / 8) * 2) === tc.tag),
      );
      expectCounts("hmac_sha256_test.json", t, 66, 108);
    });
  });

  describe("P-256 ECDH against node:crypto", () => {
    it("gives node's shared secret for random key pairs, both ways", async () => {
      const pairs = Array.from({ length: 12 }, () => [nodeKeyPair(), nodeKeyPair()] as const);
      const results = await call(pairs.map(([a, b]) => ({ op: "agree", alg: "P-256", privateKey: a.privateKey, publicKey: b.publicKey })));
      pairs.forEach(([a, b], i) => {
        const expected = nodeAgree(b.privateKey, a.publicKey);
        assert.ok(expected);
        assert.deepEqual(results[i], { ok: true, value: expected });
      });
      // Key pairs the device generates: node derives the same public key and the same secret.
      const devicePairs = (await call(Array.from({ length: 6 }, () => ({ op: "agreementKeyPair", alg: "P-256" })))).map((r) => {
        assert.ok(r.ok);
        return r.value as { privateKey: string; publicKey: string };
      });
      assert.equal(new Set(devicePairs.map((p) => p.privateKey)).size, devicePairs.length, "the device drew the same key twice");
      const peers = devicePairs.map(() => nodeKeyPair());
      const secrets = await call(devicePairs.map((d, i) => ({ op: "agree", alg: "P-256", privateKey: d.privateKey, publicKey: peers[i].publicKey })));
      devicePairs.forEach((d, i) => {
        assert.match(d.privateKey, /^[0-9a-f]{64}$/);
        const ecdh = createECDH("prime256v1");
        ecdh.setPrivateKey(Buffer.from(d.privateKey, "hex"));
        assert.equal(ecdh.getPublicKey().toString("hex"), d.publicKey);
        assert.deepEqual(secrets[i], { ok: true, value: nodeAgree(peers[i].privateKey, d.publicKey) });
      });
    });

    it("gives null for invalid peer points and private keys", async () => {
      const a = nodeKeyPair();
      const b = nodeKeyPair();
      const pub = Buffer.from(b.publicKey, "hex");
      const offCurve = Buffer.from(pub);
      offCurve[64] ^= 1;
      const compressed = createECDH("prime256v1");
      compressed.setPrivateKey(Buffer.from(b.privateKey, "hex"));
      const badPeers: Record<string, string> = {
        "off the curve (y changed)": offCurve.toString("hex"),
        "64 bytes (no prefix)": pub.subarray(1).toString("hex"),
        "66 bytes": `${b.publicKey}00`,
        "compressed (33 bytes, a valid point)": compressed.getPublicKey(undefined, "compressed").toString("hex"),
        "all zero, 65 bytes": "00".repeat(65),
        "point at infinity (one zero byte)": "00",
        "prefix 04, x and y zero": `04${"00".repeat(64)}`,
        "x = p": `04${P_HEX}${pub.subarray(33).toString("hex")}`,
        "y = p": `04${pub.subarray(1, 33).toString("hex")}${P_HEX}`,
        "prefix 05": `05${pub.subarray(1).toString("hex")}`,
        empty: "",
      };
      // The uncompressed-looking ones are invalid for node:crypto too.
      for (const [what, peer] of Object.entries(badPeers)) if (peer.length === 130 && peer.startsWith("04")) assert.equal(nodeAgree(a.privateKey, peer), null, `node accepts ${what}`);
      const badPrivate: Record<string, string> = { zero: "00".repeat(32), n: N_HEX, "n + 1": `${N_HEX.slice(0, 62)}52`, "31 bytes": a.privateKey.slice(2), "33 bytes": `00${a.privateKey}` };
      const requests = [
        ...Object.values(badPeers).map((peer) => ({ op: "agree", alg: "P-256", privateKey: a.privateKey, publicKey: peer })),
        ...Object.values(badPrivate).map((key) => ({ op: "agree", alg: "P-256", privateKey: key, publicKey: b.publicKey })),
        { op: "agree", alg: "P-256", privateKey: a.privateKey, publicKey: b.publicKey },
      ];
      const results = await call(requests);
      const names = [...Object.keys(badPeers).map((k) => `peer ${k}`), ...Object.keys(badPrivate).map((k) => `private key ${k}`)];
      names.forEach((name, i) => assert.deepEqual(results[i], { ok: true, value: null }, name));
      assert.deepEqual(results[names.length], { ok: true, value: nodeAgree(b.privateKey, a.publicKey) }, "the valid pair after the invalid ones");
    });
  });

  describe("ES256", () => {
    it("signs RFC 6979 A.2.5 (P-256, SHA-256) with its nonces, s normalised to low-S, as NobleCrypto and NodeCrypto do", async () => {
      const privateKey = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
      // A.2.5 "sample": r as listed; the listed s (f7cb1c94...) is above n/2, so it becomes n - s.
      const expected = {
        sample: "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf37160834e36ad29a83bf2bc9385e491d6099c8fdf9d1ed67aa7ea5f51f93782857a9",
        test: "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083",
      };
      assert.equal(bytesHex(sTwin(hexBytes(expected.sample))).slice(64), "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8", "A.2.5's s");
      const noble = new NobleCrypto(() => {
        throw new Error("signing draws no randomness");
      });
      for (const [message, sig] of Object.entries(expected)) {
        const m = Buffer.from(message).toString("hex");
        assert.equal(await one({ op: "sign", alg: "ES256", privateKey, message: m }), sig, `device, "${message}"`);
        assert.equal(bytesHex(noble.sign("ES256", hexBytes(privateKey), hexBytes(m))), sig, `NobleCrypto, "${message}"`);
        assert.equal(bytesHex(new NodeCrypto().sign("ES256", hexBytes(privateKey), hexBytes(m))), sig, `NodeCrypto, "${message}"`);
      }
    });

    it("every signature it makes is low-S (s <= n/2), and it refuses every high-S twin (r, n - s)", async () => {
      const noble = new NobleCrypto((n) => new Uint8Array(randomBytes(n)));
      const keys = Array.from({ length: 4 }, () => noble.signatureKeyPair("ES256"));
      const cases = Array.from({ length: 96 }, (_, i) => ({ kp: keys[i % keys.length], message: new Uint8Array(randomBytes(1 + (i % 50))) }));
      const sigs = (await call(cases.map((c) => ({ op: "sign", alg: "ES256", privateKey: bytesHex(c.kp.privateKey), message: bytesHex(c.message) })))).map((r) => {
        assert.ok(r.ok);
        return hexBytes(r.value);
      });
      sigs.forEach((sig, i) => {
        assert.ok(!isHighS(sig), `signature ${i} is high-S`);
        assert.equal(bytesHex(sig), bytesHex(noble.sign("ES256", cases[i].kp.privateKey, cases[i].message)), `signature ${i} differs from NobleCrypto's`);
      });
      // With 96 random messages about half of the raw signatures had s > n/2: the twins are high-S.
      const verdicts = await call(
        cases.flatMap((c, i) => [
          { op: "verify", alg: "ES256", publicKey: bytesHex(c.kp.publicKey), message: bytesHex(c.message), signature: bytesHex(sigs[i]) },
          { op: "verify", alg: "ES256", publicKey: bytesHex(c.kp.publicKey), message: bytesHex(c.message), signature: bytesHex(sTwin(sigs[i])) },
        ]),
      );
      assert.deepEqual(verdicts, cases.flatMap(() => [{ ok: true, value: true }, { ok: true, value: false }]));
      // node:crypto (plain ECDSA) accepts the twins: they are valid signatures but for the S half.
      const c = cases[0];
      const key = createPublicKey({ key: p256Jwk(null, bytesHex(c.kp.publicKey)), format: "jwk" });
      assert.ok(nodeVerify("sha256", c.message, { key, dsaEncoding: "ieee-p1363" }, sTwin(sigs[0])));
    });

    it("gives NobleCrypto's signatures; node:crypto verifies them and the device verifies node's (normalised to low-S)", async () => {
      const noble = new NobleCrypto((n) => new Uint8Array(randomBytes(n)));
      const cases = Array.from({ length: 10 }, (_, i) => {
        const kp = noble.signatureKeyPair("ES256");
        return { kp, message: new Uint8Array(randomBytes(i * 37)) };
      });
      const sigs = await call(cases.map((c) => ({ op: "sign", alg: "ES256", privateKey: bytesHex(c.kp.privateKey), message: bytesHex(c.message) })));
      const checks: Request[] = [];
      cases.forEach((c, i) => {
        assert.ok(sigs[i].ok);
        const sig = String(sigs[i].value);
        assert.equal(sig, bytesHex(noble.sign("ES256", c.kp.privateKey, c.message)), "not NobleCrypto's RFC 6979 signature");
        const key = createPublicKey({ key: p256Jwk(null, bytesHex(c.kp.publicKey)), format: "jwk" });
        assert.ok(nodeVerify("sha256", c.message, { key, dsaEncoding: "ieee-p1363" }, Buffer.from(sig, "hex")), "node:crypto refuses the device's signature");
        // OpenSSL's nonces are random and its s either half: normalised to low-S, as we accept only those.
        const nodeRaw = new Uint8Array(nodeSign("sha256", c.message, { key: createPrivateKey({ key: p256Jwk(bytesHex(c.kp.privateKey), bytesHex(c.kp.publicKey)), format: "jwk" }), dsaEncoding: "ieee-p1363" }));
        const nodeSig = Buffer.from(isHighS(nodeRaw) ? sTwin(nodeRaw) : nodeRaw);
        const tampered = Buffer.from(nodeSig);
        tampered[10] ^= 0x40;
        checks.push(
          { op: "verify", alg: "ES256", publicKey: bytesHex(c.kp.publicKey), message: bytesHex(c.message), signature: nodeSig.toString("hex") },
          { op: "verify", alg: "ES256", publicKey: bytesHex(c.kp.publicKey), message: bytesHex(c.message), signature: tampered.toString("hex") },
          { op: "verify", alg: "ES256", publicKey: bytesHex(c.kp.publicKey), message: `${bytesHex(c.message)}00`, signature: sig },
        );
      });
      const verdicts = (await call(checks)).map((r) => (r.ok ? r.value : r.error));
      assert.deepEqual(verdicts, cases.flatMap(() => [true, false, false]));
    });

    it("refuses bad keys and malformed signatures without throwing on verify", async () => {
      const noble = new NobleCrypto((n) => new Uint8Array(randomBytes(n)));
      const kp = noble.signatureKeyPair("ES256");
      const message = "00112233";
      const sig = bytesHex(noble.sign("ES256", kp.privateKey, hexBytes(message)));
      const pub = bytesHex(kp.publicKey);
      const verdicts = await call([
        { op: "verify", alg: "ES256", publicKey: pub, message, signature: sig },
        { op: "verify", alg: "ES256", publicKey: pub, message, signature: sig.slice(2) },
        { op: "verify", alg: "ES256", publicKey: pub, message, signature: `${sig}00` },
        { op: "verify", alg: "ES256", publicKey: pub, message, signature: "" },
        { op: "verify", alg: "ES256", publicKey: pub.slice(2), message, signature: sig },
        { op: "verify", alg: "ES256", publicKey: `04${"00".repeat(64)}`, message, signature: sig },
        { op: "verify", alg: "ES256", publicKey: pub, message, signature: `${"00".repeat(32)}${sig.slice(64)}` },
        { op: "verify", alg: "ES256", publicKey: pub, message, signature: `${N_HEX}${sig.slice(64)}` },
      ]);
      assert.deepEqual(verdicts, [true, false, false, false, false, false, false, false].map((value) => ({ ok: true, value })));
      assert.match(await fails({ op: "sign", alg: "ES256", privateKey: "00".repeat(32), message }), /^RangeError: .*outside 1\.\.n-1/);
      assert.match(await fails({ op: "sign", alg: "ES256", privateKey: N_HEX, message }), /^RangeError: .*outside 1\.\.n-1/);
      assert.match(await fails({ op: "sign", alg: "ES256", privateKey: "01", message }), /^RangeError: .*32 bytes/);
    });
  });

  describe("key pairs, randomness and the rest of the contract", () => {
    it("derives NobleCrypto's key pairs from seeds, also from a seeded source's bytes", async () => {
      const noble = new NobleCrypto((n) => new Uint8Array(randomBytes(n)));
      // A seeded ModdableCrypto derives a new key from the source's next 48 bytes, as a 48-byte seed.
      const stream = new Uint8Array(randomBytes(48));
      const seed32 = new Uint8Array(randomBytes(32));
      const seed48 = new Uint8Array(randomBytes(48));
      const results = await call([
        { op: "signatureKeyPair", alg: "ES256", seed: bytesHex(seed32) },
        { op: "signatureKeyPair", alg: "ES256", seed: bytesHex(seed48) },
        { op: "signatureKeyPair", alg: "ES256", seed: "ff".repeat(48) },
        { op: "agreementKeyPair", alg: "P-256", source: bytesHex(stream) },
        { op: "signatureKeyPair", alg: "ES256", source: bytesHex(stream) },
        { op: "random", length: 16, source: bytesHex(stream) },
      ]);
      const pair = (kp: { privateKey: Uint8Array; publicKey: Uint8Array }) => ({ privateKey: bytesHex(kp.privateKey), publicKey: bytesHex(kp.publicKey) });
      assert.deepEqual(results[0], { ok: true, value: pair(noble.signatureKeyPair("ES256", seed32)) });
      assert.deepEqual(results[1], { ok: true, value: pair(noble.signatureKeyPair("ES256", seed48)) });
      assert.deepEqual(results[2], { ok: true, value: pair(noble.signatureKeyPair("ES256", new Uint8Array(48).fill(0xff))) });
      assert.deepEqual(results[3], { ok: true, value: pair(noble.signatureKeyPair("ES256", stream)) });
      assert.deepEqual(results[4], { ok: true, value: pair(noble.signatureKeyPair("ES256", stream)) });
      assert.deepEqual(results[5], { ok: true, value: bytesHex(stream.subarray(0, 16)) });
      for (const seed of ["00".repeat(32), N_HEX, "01".repeat(33), "01".repeat(47), "01".repeat(49), ""]) {
        assert.match(await fails({ op: "signatureKeyPair", alg: "ES256", seed }), /^RangeError: /, `seed of ${seed.length / 2} bytes`);
      }
    });

    it("draws random bytes from PSA", async () => {
      const [a, b, big, none] = await call([
        { op: "random", length: 32 },
        { op: "random", length: 32 },
        { op: "random", length: 1000 },
        { op: "random", length: 0 },
      ]);
      assert.ok(a.ok && b.ok && big.ok && none.ok);
      assert.match(String(a.value), /^[0-9a-f]{64}$/);
      assert.notEqual(a.value, b.value);
      assert.equal(String(big.value).length, 2000);
      assert.notEqual(String(big.value).slice(1000), "0".repeat(1000));
      assert.equal(none.value, "");
      assert.match(await fails({ op: "random", length: -1 }), /^RangeError: /);
    });

    it("hashes, MACs and seals like node:crypto", async () => {
      const node = new NodeCrypto();
      const data = new Uint8Array(randomBytes(300));
      const key = new Uint8Array(randomBytes(16));
      const nonce = new Uint8Array(randomBytes(12));
      const aad = new Uint8Array(randomBytes(20));
      const sealed = node.aeadSeal("A128GCM", key, nonce, aad, data);
      const tampered = sealed.slice();
      tampered[tampered.length - 1] ^= 1;
      const results = await call([
        { op: "sha256", data: bytesHex(data) },
        { op: "sha256Stream", chunks: [bytesHex(data.subarray(0, 7)), "", bytesHex(data.subarray(7))] },
        { op: "hmac", key: bytesHex(key), data: bytesHex(data) },
        { op: "hmac", key: "", data: "" },
        { op: "hkdf", ikm: bytesHex(key), salt: "", info: "0102", length: 0 },
        { op: "hkdf", ikm: bytesHex(key), salt: "", info: "0102", length: 100 },
        { op: "seal", alg: "A128GCM", key: bytesHex(key), nonce: bytesHex(nonce), aad: bytesHex(aad), plaintext: bytesHex(data) },
        { op: "open", alg: "A128GCM", key: bytesHex(key), nonce: bytesHex(nonce), aad: bytesHex(aad), sealed: bytesHex(sealed) },
        { op: "open", alg: "A128GCM", key: bytesHex(key), nonce: bytesHex(nonce), aad: bytesHex(aad), sealed: bytesHex(tampered) },
        { op: "open", alg: "A128GCM", key: bytesHex(key), nonce: bytesHex(nonce), aad: "", sealed: bytesHex(sealed) },
        { op: "open", alg: "A128GCM", key: bytesHex(key), nonce: bytesHex(nonce), aad: bytesHex(aad), sealed: bytesHex(sealed.subarray(0, 15)) },
        { op: "open", alg: "A128GCM", key: bytesHex(key.subarray(1)), nonce: bytesHex(nonce), aad: bytesHex(aad), sealed: bytesHex(sealed) },
        { op: "seal", alg: "A128GCM", key: bytesHex(key), nonce: bytesHex(nonce), aad: "", plaintext: "" },
      ]);
      const sha = createHash("sha256").update(data).digest("hex");
      assert.deepEqual(
        results.map((r) => (r.ok ? r.value : r.error)),
        [
          sha,
          sha,
          bytesHex(node.hmacSha256(key, data)),
          bytesHex(node.hmacSha256(new Uint8Array(0), new Uint8Array(0))),
          "",
          bytesHex(node.hkdfSha256(key, new Uint8Array(0), new Uint8Array([1, 2]), 100)),
          bytesHex(sealed),
          bytesHex(data),
          null,
          null,
          null,
          null,
          bytesHex(node.aeadSeal("A128GCM", key, nonce, new Uint8Array(0), new Uint8Array(0))),
        ],
      );
      assert.match(await fails({ op: "seal", alg: "A128GCM", key: bytesHex(key.subarray(1)), nonce: bytesHex(nonce), aad: "", plaintext: "" }), /^RangeError: A128GCM key must be 16 bytes/);
      assert.match(await fails({ op: "seal", alg: "A128GCM", key: bytesHex(key), nonce: bytesHex(nonce.subarray(1)), aad: "", plaintext: "" }), /^RangeError: A128GCM nonce must be 12 bytes/);
      assert.match(await fails({ op: "hkdf", ikm: "00", salt: "", info: "", length: 8161 }), /^RangeError: HKDF-SHA256 output length 8161 outside 0\.\.8160/);
    });

    it("the native module throws TypeError or RangeError for misuse and never crashes", async () => {
      assert.deepEqual(await one({ op: "nativeMisuse" }), {
        "sha256()": "TypeError",
        "sha256(string)": "TypeError",
        "sha256(Uint16Array)": "TypeError",
        "sha256(DataView)": "returned e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "randomFill(number)": "TypeError",
        "randomFill(empty)": "returned undefined",
        "es256Sign(signature 63)": "RangeError",
        "es256Sign(key 31)": "RangeError",
        "es256Sign(null message)": "TypeError",
        "es256Verify(all empty)": "returned false",
        "p256Agree(secret 31)": "RangeError",
        "p256GenerateKeyPair(public 64)": "RangeError",
        "p256KeyPairFromSeed(seed 10)": "RangeError",
        "p256KeyPairFromSeed(seed 1025)": "RangeError",
        "p256KeyPairFromSeed(seed 1024)": "returned true",
        "hkdfSha256(length -1)": "RangeError",
        "hkdfSha256(length 8161)": "RangeError",
        "aes128GcmSeal(key 15)": "RangeError",
        "aes128GcmSeal(nonce 13)": "RangeError",
        "aes128GcmOpen(short)": "returned null",
        "aes128GcmOpen(key 15)": "returned null",
        "hmacSha256(key 1000)": "returned 64",
      });
      // The engine is still serving.
      assert.equal(await one({ op: "sha256", data: "" }), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    });

    it("refuses EdDSA, X25519 and ChaCha20/Poly1305 with an error naming the algorithm", async () => {
      const requests: Request[] = [
        { op: "signatureKeyPair", alg: "EdDSA" },
        { op: "sign", alg: "EdDSA", privateKey: "00".repeat(32), message: "" },
        { op: "verify", alg: "EdDSA", publicKey: "00".repeat(32), message: "", signature: "00".repeat(64) },
        { op: "agreementKeyPair", alg: "X25519" },
        { op: "agree", alg: "X25519", privateKey: "00".repeat(32), publicKey: "00".repeat(32) },
        { op: "seal", alg: "ChaCha20/Poly1305", key: "00".repeat(32), nonce: "00".repeat(12), aad: "", plaintext: "" },
        { op: "open", alg: "ChaCha20/Poly1305", key: "00".repeat(32), nonce: "00".repeat(12), aad: "", sealed: "00".repeat(16) },
      ];
      const results = await call(requests);
      results.forEach((r, i) => {
        assert.ok(!r.ok, `${requests[i].op} ${String(requests[i].alg)} did not throw`);
        assert.ok(r.error.startsWith("Error: ") && r.error.includes(String(requests[i].alg)) && r.error.includes("ES256, P-256 and A128GCM"), r.error);
      });
    });
  });

  it("seals frames that the portable FrameOpener accepts", async () => {
    const noble = new NobleCrypto((n) => new Uint8Array(randomBytes(n)));
    const identity = noble.signatureKeyPair("ES256");
    const gateway = noble.agreementKeyPair("P-256");
    const deviceId = new Uint8Array(randomBytes(8));
    const sealed = (await one({
      op: "sealFrames",
      deviceId: bytesHex(deviceId),
      signingKey: bytesHex(identity.privateKey),
      gatewayPublicKey: bytesHex(gateway.publicKey),
      gatewayKeyId: "01",
      epoch: 7,
      count: 3,
    })) as { announcement: string; frames: string[] };
    const opener = new FrameOpener({
      crypto: new NodeCrypto(),
      gatewayPrivateKey: gateway.privateKey,
      agreementAlg: "P-256",
      lookupDevice: (id) => (bytesHex(id) === bytesHex(deviceId) ? { identityPublicKey: identity.publicKey, signatureAlg: "ES256" } : null),
    });
    assert.equal(opener.accept(hexBytes(sealed.announcement)).kind, "epoch");
    sealed.frames.forEach((f, i) => {
      const r = opener.accept(hexBytes(f));
      assert.equal(r.kind, "record", JSON.stringify(r));
      if (r.kind === "record") {
        assert.equal(r.epoch, 7);
        assert.equal(r.frameSeq, i);
        assert.equal(r.record.readings[0].hrBpm, 72.4);
      }
    });
  });
});
