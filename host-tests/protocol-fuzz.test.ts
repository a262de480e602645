/**
 * Fuzzing the receive path: every single-bit flip of a frame or an announcement is rejected with
 * a reason from the closed set (checked exhaustively, and as a fast-check property), and
 * arbitrary bytes or mutated messages never make the CBOR decoder, the record decoder or
 * FrameOpener throw.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import type { AeadAlgorithm, KeyAgreementAlgorithm, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import { decodeCbor, encodeCbor, tagged } from "../protocol/cbor.js";
import { toHex } from "../protocol/bytes.js";
import type { CborValue } from "../protocol/cbor.js";
import { decodeEncrypt0, decodeSign1 } from "../protocol/cose.js";
import { FrameOpener, FrameSealer, REJECT_REASONS } from "../protocol/frame.js";
import type { OpenResult } from "../protocol/frame.js";
import { decodeRecord } from "../protocol/record.js";
import type { RecordV1 } from "../protocol/record.js";

function seeded(label: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) {
      const block = createHash("sha256").update(`${label}/${counter++}`).digest();
      out.set(block.subarray(0, Math.min(32, n - off)), off);
    }
    return out;
  };
}

function record(frameSeq: number): RecordV1 {
  return {
    schema: 1,
    frameSeq,
    firmwareVersion: "1.0.0",
    readings: [0, 1, 2, 3, 4].map((i) => ({
      seq: 700 + i,
      timeMs: 1767225600000 + i * 1000,
      hrBpm: i === 2 ? null : 70 + i,
      hrQuality: 90,
      tempC: 33.5,
      flags: i === 2 ? 1 : 0,
    })),
  };
}

function world(sigAlg: SignatureAlgorithm, ka: KeyAgreementAlgorithm, aead: AeadAlgorithm) {
  const crypto = new NobleCrypto(seeded(`fuzz/${sigAlg}/${ka}/${aead}`));
  const deviceId = new Uint8Array([1, 1, 2, 3, 5, 8, 13, 21]);
  const identity = crypto.signatureKeyPair(sigAlg);
  const gateway = crypto.agreementKeyPair(ka);
  const sealer = new FrameSealer({
    crypto,
    deviceId,
    identityPrivateKey: identity.privateKey,
    signatureAlg: sigAlg,
    gatewayPublicKey: gateway.publicKey,
    gatewayKeyId: new Uint8Array([7, 7, 7, 7]),
    agreementAlg: ka,
    aeadAlg: aead,
  });
  const announcement = sealer.openEpoch(3);
  const frame = sealer.seal(record(9));
  const next = sealer.seal(record(10));
  const opener = () =>
    new FrameOpener({
      crypto,
      gatewayPrivateKey: gateway.privateKey,
      agreementAlg: ka,
      lookupDevice: (id) => (toHex(id) === toHex(deviceId) ? { identityPublicKey: identity.publicKey, signatureAlg: sigAlg } : null),
    });
  /** An opener that has accepted the announcement (to receive frames). */
  const ready = () => {
    const o = opener();
    assert.equal(o.accept(announcement).kind, "epoch");
    return o;
  };
  return { announcement, frame, next, opener, ready };
}

/** Map keys that encode to the same CBOR bytes are one key (0 and -0, for instance). */
function mapKeyIdentity(k: number | string): string {
  return toHex(encodeCbor(k));
}

function flip(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3] ^= 0x80 >> (bit & 7);
  return out;
}

function assertTypedRejection(r: OpenResult, what: string): void {
  assert.equal(r.kind, "rejected", `${what} was accepted as ${r.kind}`);
  if (r.kind === "rejected") {
    assert.ok(REJECT_REASONS.includes(r.reason), `${what}: reason ${String(r.reason)} outside the closed set`);
    assert.equal(typeof r.detail, "string");
  }
}

const combos: [SignatureAlgorithm, KeyAgreementAlgorithm, AeadAlgorithm][] = [
  ["ES256", "P-256", "A128GCM"],
  ["EdDSA", "X25519", "ChaCha20/Poly1305"],
];

describe("protocol fuzzing", function () {
  this.timeout(600000);

  for (const [sigAlg, ka, aead] of combos) {
    describe(`${sigAlg} / ${ka} / ${aead}`, () => {
      const w = world(sigAlg, ka, aead);

      it("every single-bit flip of a data frame is rejected (exhaustive)", () => {
        const o = w.ready();
        const reasons = new Map<string, number>();
        for (let bit = 0; bit < w.frame.length * 8; bit++) {
          const r = o.accept(flip(w.frame, bit));
          assertTypedRejection(r, `frame bit ${bit}`);
          if (r.kind === "rejected") reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1);
        }
        assert.equal(o.accept(w.frame).kind, "record", "the intact frame is still accepted afterwards");
        console.log(`        ${w.frame.length * 8} flips: ${[...reasons].map(([k, v]) => `${k} ${v}`).join(", ")}`);
      });

      it("every single-bit flip of an announcement is rejected (exhaustive)", () => {
        const o = w.opener();
        const reasons = new Map<string, number>();
        for (let bit = 0; bit < w.announcement.length * 8; bit++) {
          const r = o.accept(flip(w.announcement, bit));
          assertTypedRejection(r, `announcement bit ${bit}`);
          if (r.kind === "rejected") reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1);
        }
        assert.equal(o.accept(w.announcement).kind, "epoch", "the intact announcement is still accepted afterwards");
        console.log(`        ${w.announcement.length * 8} flips: ${[...reasons].map(([k, v]) => `${k} ${v}`).join(", ")}`);
      });

      it("property: a bit flip anywhere in either message is rejected and never throws", () => {
        const o = w.ready();
        fc.assert(
          fc.property(fc.boolean(), fc.nat(), (isFrame, n) => {
            const msg = isFrame ? w.frame : w.announcement;
            const r = o.accept(flip(msg, n % (msg.length * 8)));
            assertTypedRejection(r, "flipped message");
          }),
          { numRuns: 300 },
        );
      });

      it("property: mutated messages (byte edits, truncation, insertion) never throw", () => {
        const o = w.ready();
        const mutation = fc.record({
          which: fc.constantFrom("frame", "next", "announcement"),
          edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
          cut: fc.option(fc.nat(), { nil: undefined }),
          insert: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })), { nil: undefined }),
        });
        fc.assert(
          fc.property(mutation, (m) => {
            const src = m.which === "frame" ? w.frame : m.which === "next" ? w.next : w.announcement;
            let b = src.slice();
            for (const [pos, v] of m.edits) b[pos % b.length] = v;
            if (m.insert) {
              const at = m.insert[0] % (b.length + 1);
              b = new Uint8Array([...b.subarray(0, at), ...m.insert[1], ...b.subarray(at)]);
            }
            if (m.cut !== undefined) b = b.subarray(0, m.cut % (b.length + 1));
            const r = o.accept(b);
            if (r.kind === "rejected") assert.ok(REJECT_REASONS.includes(r.reason));
            else assert.equal(toHex(b), toHex(src), "only an intact message may pass");
          }),
          { numRuns: 400 },
        );
      });
    });
  }

  describe("arbitrary input", () => {
    const w = world("ES256", "P-256", "A128GCM");

    it("random bytes never make the decoders or FrameOpener throw", () => {
      const o = w.ready();
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(-1, 0xd0, 0xd2), (bytes, prefix) => {
          const input = prefix < 0 ? bytes : new Uint8Array([prefix, ...bytes]);
          const c = decodeCbor(input);
          assert.ok(c.ok || typeof c.error.code === "string");
          const rec = decodeRecord(input);
          assert.ok(rec.ok || typeof rec.error.code === "string");
          decodeSign1(input);
          decodeEncrypt0(input);
          assertTypedRejection(o.accept(input), "random bytes");
        }),
        { numRuns: 3000 },
      );
    });

    it("random well-formed CBOR shaped like COSE messages is rejected, never thrown on", () => {
      const o = w.ready();
      const leaf: fc.Arbitrary<CborValue> = fc.oneof(
        fc.integer({ min: -1000000, max: 1000000 }),
        fc.string({ maxLength: 12 }),
        fc.uint8Array({ maxLength: 70 }),
        fc.constantFrom<CborValue>(true, false, null),
      );
      const { value } = fc.letrec<{ value: CborValue }>((tie) => ({
        value: fc.oneof(
          { depthSize: "small", withCrossShrink: true },
          leaf,
          fc.array(tie("value"), { maxLength: 4 }),
          fc
            .uniqueArray(fc.tuple(fc.oneof(fc.integer({ min: -10, max: 10 }), fc.string({ maxLength: 3 })), tie("value")), { maxLength: 4, selector: ([k]) => mapKeyIdentity(k) })
            .map((entries) => new Map(entries)),
          fc.tuple(fc.constantFrom(16, 18, 96, 98), tie("value")).map(([t, v]) => tagged(t, v)),
        ),
      }));
      const headers = fc
        .uniqueArray(fc.tuple(fc.integer({ min: -2, max: 8 }), value), { maxLength: 3, selector: ([k]) => mapKeyIdentity(k) })
        .map((e) => new Map<number, CborValue>(e));
      const coseLike = fc.oneof(
        fc.tuple(headers, headers, fc.uint8Array({ maxLength: 120 })).map(([p, u, ct]) =>
          tagged(16, [p.size ? encodeCbor(p) : new Uint8Array(0), u, ct]),
        ),
        fc.tuple(headers, headers, fc.uint8Array({ maxLength: 120 }), fc.uint8Array({ maxLength: 70 })).map(([p, u, pl, sig]) =>
          tagged(18, [p.size ? encodeCbor(p) : new Uint8Array(0), u, pl, sig]),
        ),
        value,
      );
      fc.assert(
        fc.property(coseLike, (v) => {
          // Every generated value is encodable (unique map keys, shallow nesting): an encoder
          // exception is a failure of the property.
          const bytes = encodeCbor(v);
          const d = decodeCbor(bytes, { maxDepth: 64 });
          assert.ok(d.ok, d.ok ? "" : d.error.message);
          assertTypedRejection(o.accept(bytes), "COSE-shaped value");
        }),
        { numRuns: 2000 },
      );
    });
  });
});
