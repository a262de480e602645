/// <reference path="../../../typings/index.d.ts" />
/**
 * Conformance app for the SDK's desktop simulator: serves the device's `Crypto` implementation
 * (hal/moddable/crypto.ts over the native PSA module) to host-tests/device-crypto.test.ts, which
 * runs Wycheproof vectors, ECDH cross-checks with node:crypto and RFC 6979 checks through it.
 *
 * Host -> app: { id, batch: [request...] }; app -> host: { id, results: [result...] }, one result
 * per request: { ok: true, value } or { ok: false, error: "Name: message" } when it threw.
 * Bytes travel as hex. A request with `source` (hex) uses a ModdableCrypto whose random source
 * returns those bytes in order, to compare seeded key derivation with NobleCrypto.
 */
import type { AeadAlgorithm, Crypto, KeyAgreementAlgorithm, SignatureAlgorithm } from "../../../hal/contracts/crypto.js";
import { ModdableCrypto } from "../../../hal/moddable/crypto.js";
import { FrameSealer } from "../../../protocol/frame.js";
import { toHex as bytesToHex, hexToBytes } from "../../../protocol/bytes.js";
import { HarnessLink } from "./harness-link.js";
import * as psa from "psa-crypto";

interface Request {
  op: string;
  source?: string;
  [field: string]: unknown;
}

const device = new ModdableCrypto();

function seeded(hex: string): Crypto {
  const stream = hexToBytes(hex);
  let offset = 0;
  return new ModdableCrypto((n) => {
    if (offset + n > stream.length) throw new Error("the test's random stream ran out");
    const out = stream.slice(offset, offset + n);
    offset += n;
    return out;
  });
}

const b = (r: Request, field: string): Uint8Array => hexToBytes(String(r[field]));
const h = (bytes: Uint8Array | null): string | null => (bytes === null ? null : bytesToHex(bytes));

function run(r: Request): unknown {
  const c = typeof r.source === "string" ? seeded(r.source) : device;
  switch (r.op) {
    case "random":
      return h(c.randomBytes(Number(r.length)));
    case "sha256":
      return h(c.sha256(b(r, "data")));
    case "sha256Stream": {
      const s = c.sha256Stream();
      for (const chunk of r.chunks as string[]) s.update(hexToBytes(chunk));
      return h(s.digest());
    }
    case "hmac":
      return h(c.hmacSha256(b(r, "key"), b(r, "data")));
    case "hkdf":
      return h(c.hkdfSha256(b(r, "ikm"), b(r, "salt"), b(r, "info"), Number(r.length)));
    case "seal":
      return h(c.aeadSeal(r.alg as AeadAlgorithm, b(r, "key"), b(r, "nonce"), b(r, "aad"), b(r, "plaintext")));
    case "open":
      return h(c.aeadOpen(r.alg as AeadAlgorithm, b(r, "key"), b(r, "nonce"), b(r, "aad"), b(r, "sealed")));
    case "signatureKeyPair": {
      const kp = c.signatureKeyPair(r.alg as SignatureAlgorithm, typeof r.seed === "string" ? b(r, "seed") : undefined);
      return { privateKey: h(kp.privateKey), publicKey: h(kp.publicKey) };
    }
    case "sign":
      return h(c.sign(r.alg as SignatureAlgorithm, b(r, "privateKey"), b(r, "message")));
    case "verify":
      return c.verify(r.alg as SignatureAlgorithm, b(r, "publicKey"), b(r, "message"), b(r, "signature"));
    case "agreementKeyPair": {
      const kp = c.agreementKeyPair(r.alg as KeyAgreementAlgorithm);
      return { privateKey: h(kp.privateKey), publicKey: h(kp.publicKey) };
    }
    case "agree":
      return h(c.agree(r.alg as KeyAgreementAlgorithm, b(r, "privateKey"), b(r, "publicKey")));
    case "sealFrames": {
      // The device side of the protocol with this implementation: an epoch announcement and
      // `count` frames of one reading each, for the host's FrameOpener to check.
      const sealer = new FrameSealer({
        crypto: c,
        deviceId: b(r, "deviceId"),
        identityPrivateKey: b(r, "signingKey"),
        signatureAlg: "ES256",
        gatewayPublicKey: b(r, "gatewayPublicKey"),
        gatewayKeyId: b(r, "gatewayKeyId"),
        agreementAlg: "P-256",
        aeadAlg: "A128GCM",
      });
      const announcement = h(sealer.openEpoch(Number(r.epoch)));
      const frames: (string | null)[] = [];
      for (let i = 0; i < Number(r.count); i++) {
        const reading = { seq: i, timeMs: 1767254400000 + i * 1000, hrBpm: 72.4, hrQuality: 97, tempC: 33.52, flags: 0 };
        frames.push(h(sealer.seal({ schema: 1, frameSeq: i, firmwareVersion: "1.0.0", readings: [reading] })));
      }
      return { announcement, frames };
    }
    case "nativeMisuse":
      return nativeMisuse();
    default:
      throw new Error(`unknown operation ${r.op}`);
  }
}

/**
 * Calls the native module directly with wrong types and sizes: each call must throw a TypeError or
 * RangeError (or give false/null for outside data), never crash the engine.
 */
function nativeMisuse(): Record<string, string> {
  const u = (n: number) => new Uint8Array(n);
  const anyPsa = psa as unknown as Record<string, (...args: unknown[]) => unknown>;
  const calls: Record<string, () => unknown> = {
    "sha256()": () => anyPsa.sha256(),
    "sha256(string)": () => anyPsa.sha256("text"),
    "sha256(Uint16Array)": () => anyPsa.sha256(new Uint16Array(4)),
    "sha256(DataView)": () => bytesToHex(new Uint8Array(psa.sha256(new DataView(new ArrayBuffer(0))))),
    "randomFill(number)": () => anyPsa.randomFill(5),
    "randomFill(empty)": () => psa.randomFill(u(0)),
    "es256Sign(signature 63)": () => psa.es256Sign(u(32).fill(1), u(0), u(63)),
    "es256Sign(key 31)": () => psa.es256Sign(u(31).fill(1), u(0), u(64)),
    "es256Sign(null message)": () => anyPsa.es256Sign(u(32).fill(1), null, u(64)),
    "es256Verify(all empty)": () => psa.es256Verify(u(0), u(0), u(0)),
    "p256Agree(secret 31)": () => psa.p256Agree(u(32).fill(1), u(65), u(31)),
    "p256GenerateKeyPair(public 64)": () => psa.p256GenerateKeyPair(u(32), u(64)),
    "p256KeyPairFromSeed(seed 10)": () => psa.p256KeyPairFromSeed(u(10), u(32), u(65)),
    "p256KeyPairFromSeed(seed 1025)": () => psa.p256KeyPairFromSeed(u(1025), u(32), u(65)),
    "p256KeyPairFromSeed(seed 1024)": () => psa.p256KeyPairFromSeed(u(1024).fill(0xff), u(32), u(65)),
    "hkdfSha256(length -1)": () => psa.hkdfSha256(u(1), u(0), u(0), -1),
    "hkdfSha256(length 8161)": () => psa.hkdfSha256(u(1), u(0), u(0), 8161),
    "aes128GcmSeal(key 15)": () => psa.aes128GcmSeal(u(15), u(12), u(0), u(0)),
    "aes128GcmSeal(nonce 13)": () => psa.aes128GcmSeal(u(16), u(13), u(0), u(0)),
    "aes128GcmOpen(short)": () => psa.aes128GcmOpen(u(16), u(12), u(0), u(15)),
    "aes128GcmOpen(key 15)": () => psa.aes128GcmOpen(u(15), u(12), u(0), u(16)),
    "hmacSha256(key 1000)": () => bytesToHex(new Uint8Array(psa.hmacSha256(u(1000), u(0)))).length,
  };
  const out: Record<string, string> = {};
  for (const [name, f] of Object.entries(calls)) {
    try {
      out[name] = `returned ${String(f())}`;
    } catch (e) {
      out[name] = e instanceof Error ? e.name : "threw";
    }
  }
  return out;
}

const link: HarnessLink = new HarnessLink({ app: "crypto-conformance" }, (message) => {
  const m = message as { id: number; batch: Request[] };
  const results = m.batch.map((r) => {
    try {
      return { ok: true, value: run(r) };
    } catch (e) {
      const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      return { ok: false, error };
    }
  });
  link.send({ id: m.id, results });
});
