/**
 * docs/protocol.md is enough to verify a recording: this verifier uses only what the document
 * says, a generic CBOR decoder written here (no deterministic-encoding checks, nothing from
 * protocol/), and node:crypto (ECDH, HKDF, AES-GCM, ECDSA). It decodes a simulator recording
 * (`npm start -- --record DIR`: messages.cborseq + keys.json) and checks every announcement, frame
 * and command result, and that it finds the readings the gateway printed. The recording holds each
 * epoch's shared secret Z, not the gateway's private key: the verifier checks Z against ECDH with
 * the seed's gateway key (which it derives itself) before deriving the epoch keys from it.
 */
import assert from "node:assert/strict";
import { createDecipheriv, createECDH, createPublicKey, hkdfSync, verify } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim } from "../host/sim/run-sim.js";
import { simKeys } from "../host/sim/sim-keys.js";
import { signCommand } from "../protocol/command.js";
import { NodeCrypto } from "../host/crypto/node-crypto.js";

type V = number | string | Buffer | boolean | null | V[] | Map<V, V> | { tag: number; value: V };

/** A generic CBOR decoder (RFC 8949 major types 0-7, definite lengths), enough for this check. */
function decode(b: Buffer, pos = 0): { v: V; end: number } {
  const ib = b[pos++];
  const mt = ib >> 5;
  const ai = ib & 31;
  let n: number;
  if (ai < 24) n = ai;
  else if (ai === 24) n = b[pos++];
  else if (ai === 25) (n = b.readUInt16BE(pos)), (pos += 2);
  else if (ai === 26) (n = b.readUInt32BE(pos)), (pos += 4);
  else if (ai === 27) (n = Number(b.readBigUInt64BE(pos))), (pos += 8);
  else throw new Error("indefinite lengths are not used by the protocol");
  switch (mt) {
    case 0: return { v: n, end: pos };
    case 1: return { v: -1 - n, end: pos };
    case 2: return { v: b.subarray(pos, pos + n), end: pos + n };
    case 3: return { v: b.subarray(pos, pos + n).toString("utf8"), end: pos + n };
    case 4: {
      const a: V[] = [];
      for (let i = 0; i < n; i++) { const r = decode(b, pos); a.push(r.v); pos = r.end; }
      return { v: a, end: pos };
    }
    case 5: {
      const m = new Map<V, V>();
      for (let i = 0; i < n; i++) { const k = decode(b, pos); const v = decode(b, k.end); m.set(k.v, v.v); pos = v.end; }
      return { v: m, end: pos };
    }
    case 6: { const r = decode(b, pos); return { v: { tag: n, value: r.v }, end: r.end }; }
    default: return { v: n === 20 ? false : n === 21 ? true : null, end: pos };
  }
}

/** Minimal generic CBOR encoder for the Sig_structure / Enc_structure / external AAD / HKDF info. */
function enc(v: V): Buffer {
  const head = (mt: number, n: number) => {
    if (n < 24) return Buffer.from([(mt << 5) | n]);
    if (n < 256) return Buffer.from([(mt << 5) | 24, n]);
    if (n < 65536) { const x = Buffer.alloc(3); x[0] = (mt << 5) | 25; x.writeUInt16BE(n, 1); return x; }
    const x = Buffer.alloc(5); x[0] = (mt << 5) | 26; x.writeUInt32BE(n, 1); return x;
  };
  if (typeof v === "number") return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === "string") { const s = Buffer.from(v, "utf8"); return Buffer.concat([head(3, s.length), s]); }
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  if (Array.isArray(v)) return Buffer.concat([head(4, v.length), ...v.map(enc)]);
  throw new Error("not needed");
}

function p256Key(raw: Buffer) {
  return createPublicKey({ key: { kty: "EC", crv: "P-256", x: raw.subarray(1, 33).toString("base64url"), y: raw.subarray(33).toString("base64url") }, format: "jwk" });
}

describe("a recording verified from docs/protocol.md alone", function () {
  this.timeout(120_000);

  it("decodes and verifies announcements, frames and command results with generic code", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wearable-rec-"));
    const k = simKeys(11);
    const cmd = signCommand(new NodeCrypto(), "ES256", k.roles.maintainer.privateKey, {
      role: "maintainer", deviceId: k.deviceId, commandId: 1, expiresMs: Date.parse(DEFAULT_START) + 600_000, args: { op: "rotate-keys" },
    });
    const printed: string[] = [];
    await runSim({
      seconds: 25, speed: "max", seed: 11, json: true, engine: "node", record: dir, framePeriodS: 5, heartRate: DEFAULT_HR_TRACE,
      startIso: DEFAULT_START, firmwareVersion: "1.0.0", centralMessages: [{ atS: 8, bytes: cmd }], out: (l) => printed.push(l), err: () => {},
    });
    const keys = JSON.parse(readFileSync(join(dir, "keys.json"), "utf8")) as Record<string, string> & { epochs: { ephemeralPublicKey: string; sharedSecret: string; epoch: number }[] };
    assert.equal(keys.gatewayPrivateKey, undefined, "a recording holds no gateway private key");
    const devicePub = p256Key(Buffer.from(keys.deviceIdentityPublicKey, "hex"));
    const gwPriv = Buffer.from(k.gatewayPrivateKey);
    const seq = readFileSync(join(dir, "messages.cborseq"));
    const epochs = new Map<number, { key: Buffer; iv: Buffer }>();
    const seen = { announcements: 0, frames: 0, results: 0, readings: [] as number[] };
    const sizes = new Set<number>();
    // Section 1: ES256 signatures are r || s with s <= n/2 (low-S); the twin (r, n - s) is invalid.
    const n = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    const lowS = (sig: Buffer) => sig.length === 64 && BigInt("0x" + sig.subarray(32).toString("hex")) <= n >> BigInt(1);
    const verifySign1 = (m: V[], aad: Buffer) => {
      const [prot, , payload, sig] = m as [Buffer, Map<V, V>, Buffer, Buffer];
      const tbs = enc(["Signature1", prot, aad, payload]);
      return lowS(sig) && verify("sha256", tbs, { key: devicePub, dsaEncoding: "ieee-p1363" }, sig);
    };
    const twin = (m: V[]): V[] => {
      const sig = m[3] as Buffer;
      const s = n - BigInt("0x" + sig.subarray(32).toString("hex"));
      return [m[0], m[1], m[2], Buffer.concat([sig.subarray(0, 32), Buffer.from(s.toString(16).padStart(64, "0"), "hex")])];
    };
    let twinsRefused = 0;
    for (let pos = 0; pos < seq.length; ) {
      const { v, end } = decode(seq, pos);
      pos = end;
      const t = v as { tag: number; value: V[] };
      if (t.tag === 18) {
        const prot = decode(t.value[0] as Buffer).v as Map<V, V>;
        assert.ok(verifySign1(t.value, Buffer.alloc(0)), "COSE_Sign1 verifies (external AAD empty)");
        assert.ok(!verifySign1(twin(t.value), Buffer.alloc(0)), "its high-S twin does not");
        assert.ok(verify("sha256", enc(["Signature1", t.value[0] as Buffer, Buffer.alloc(0), t.value[2] as Buffer]), { key: devicePub, dsaEncoding: "ieee-p1363" }, twin(t.value)[3] as Buffer), "plain ECDSA would take the twin");
        twinsRefused++;
        const payload = decode(t.value[2] as Buffer).v as Map<V, V>;
        // Section 18: the only signed message in clear is the announcement (content type 65005);
        // results travel inside data frames.
        assert.equal(prot.get(3), 65005, "a tag-18 item at the top level is an announcement");
        seen.announcements++;
        const E = payload.get(3) as number;
        const Pe = payload.get(4) as Buffer;
        const recorded = keys.epochs.find((x) => x.ephemeralPublicKey === Pe.toString("hex"));
        assert.ok(recorded, `keys.json has the shared secret of epoch ${E}`);
        assert.equal(recorded.epoch, E);
        const Z = Buffer.from(recorded.sharedSecret, "hex");
        const ecdh = createECDH("prime256v1");
        ecdh.setPrivateKey(gwPriv);
        assert.ok(ecdh.computeSecret(Pe).equals(Z), "the recorded Z is ECDH(gateway key, P_e)");
        // Section 5: salt = 0x01 || LV("wearable epoch") || LV(device id) || LV(identity public key) || LV(gateway key id) || BE32(E).
        const lv = (x: Buffer) => Buffer.concat([Buffer.from([x.length >> 8, x.length & 255]), x]);
        const salt = Buffer.concat([
          Buffer.from([1]),
          lv(Buffer.from("wearable epoch", "ascii")),
          lv(Buffer.from(keys.deviceId, "hex")),
          lv(Buffer.from(keys.deviceIdentityPublicKey, "hex")),
          lv(payload.get(5) as Buffer),
          Buffer.from([E >>> 24, (E >> 16) & 255, (E >> 8) & 255, E & 255]),
        ]);
        const info = enc(["wearable frame v1", 1, 1, -7, Pe, payload.get(5) as Buffer]);
        const okm = Buffer.from(hkdfSync("sha256", Z, salt, info, 28));
        epochs.set(E, { key: okm.subarray(0, 16), iv: okm.subarray(16) });
      } else {
        assert.equal(t.tag, 16);
        seen.frames++;
        const [prot, unprot, ct] = t.value as [Buffer, Map<V, V>, Buffer];
        const kid = unprot.get(4) as Buffer;
        const piv = unprot.get(6) as Buffer;
        const E = kid.readUInt32BE(8);
        const ek = epochs.get(E)!;
        const nonce = Buffer.from(ek.iv);
        for (let i = 0; i < piv.length; i++) nonce[12 - piv.length + i] ^= piv[i];
        const aad = enc([kid.subarray(0, 8), 0, E, 1]);
        const d = createDecipheriv("aes-128-gcm", ek.key, nonce);
        d.setAAD(enc(["Encrypt0", prot, aad]));
        d.setAuthTag(ct.subarray(ct.length - 16));
        const plain = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
        // Section 6.1: the COSE_Sign1, then zero bytes; the length a multiple of 64.
        const first = decode(plain);
        assert.equal(plain.length % 64, 0, "the plaintext is a multiple of 64 bytes");
        assert.ok(plain.subarray(first.end).every((x) => x === 0), "only zero bytes after the COSE_Sign1");
        sizes.add(plain.length);
        const inner = first.v as { tag: number; value: V[] };
        assert.equal(inner.tag, 18);
        const contentType = (decode(inner.value[0] as Buffer).v as Map<V, V>).get(3);
        if (contentType === 65002) {
          // Section 13.1: a command result, signed over an empty external AAD.
          assert.ok(verifySign1(inner.value, Buffer.alloc(0)), "the result verifies (external AAD empty)");
          const result = decode(inner.value[2] as Buffer).v as Map<V, V>;
          assert.ok((result.get(1) as Buffer).equals(kid.subarray(0, 8)), "the result names the frame's device");
          assert.equal(result.get(3), "ok");
          assert.equal(result.get(4), "rotate-keys");
          seen.results++;
          continue;
        }
        assert.equal(contentType, 65006, "otherwise a record");
        assert.ok(verifySign1(inner.value, aad), "inner COSE_Sign1 verifies with the external AAD");
        const rec = decode(inner.value[2] as Buffer).v as Map<V, V>;
        assert.equal(rec.get(0), 1);
        assert.equal(rec.get(1), piv.reduce((a, x) => a * 256 + x, 0), "record frameSeq = Partial IV");
        for (const r of rec.get(3) as Map<V, V>[]) seen.readings.push(r.get(0) as number);
      }
    }
    assert.ok(seen.announcements >= 2, "boot epoch and the rotated one");
    assert.ok(twinsRefused >= 2);
    assert.equal(seen.results, 1);
    assert.deepEqual([...sizes].sort((a, b) => a - b), [320, 512], "records of 5 readings in 320 bytes, the result in 512 (6.1)");
    assert.ok(seen.frames >= 3);
    const gatewaySeqs = printed.map((l) => JSON.parse(l) as { type: string; seq: number }).filter((x) => x.type === "reading").map((x) => x.seq);
    assert.deepEqual(seen.readings, gatewaySeqs, "the same readings as the gateway");
  });
});
