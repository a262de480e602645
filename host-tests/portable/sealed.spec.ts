/**
 * Confidential by default, portable (Node and XS): the padding of data frames to size classes,
 * and command results and update status reports sealed into data frames (FrameSealer.sealSigned)
 * and opened by the FrameOpener. docs/protocol.md sections 6, 6.1, 13.1 and 18.
 */
import { assert, assertEqual, assertThrows, seededRandom, suite, test } from "./harness.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { CborWriter } from "../../protocol/cbor.js";
import { fromHex, toHex } from "../../protocol/bytes.js";
import type { CborKey, CborValue } from "../../protocol/cbor.js";
import { decodeEncrypt0, decodeSign1 } from "../../protocol/cose.js";
import { CONTENT_TYPE_ANNOUNCEMENT, CONTENT_TYPE_RESULT } from "../../protocol/content-types.js";
import { FrameOpener, FrameSealer } from "../../protocol/frame.js";
import type { OpenResult } from "../../protocol/frame.js";
import { signResult } from "../../protocol/command.js";
import { encodeUpdateStatus } from "../../protocol/update-manifest.js";
import { LOG_RESULT_PADDED_LENGTH, MESSAGE_PADDED_LENGTH, padBlocks, padPlaintext, recordPaddedLength, unpadPlaintext } from "../../protocol/padding.js";
import type { RecordV1 } from "../../protocol/record.js";

function hex(s: string): Uint8Array {
  const b = fromHex(s);
  if (b === null) throw new Error(`bad hex in test: ${s}`);
  return b;
}

function source(seed: number): (n: number) => Uint8Array {
  const next = seededRandom(seed);
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
    return out;
  };
}

function why(r: OpenResult): string {
  return r.kind === "rejected" ? `${r.reason}: ${r.detail}` : r.kind;
}

suite("sealed results, reports and padding", () => {
  test("padding: canonical zero bytes to a multiple of 64, every other form refused", () => {
    const message = new CborWriter(16).tag(18).bytes(hex("0102030405")).toBytes();
    const padded = padPlaintext(message, 64);
    assertEqual(padded.length, 64);
    const back = unpadPlaintext(padded);
    assert(back.ok && toHex(back.inner) === toHex(message), "round trip");
    const notZero = padded.slice();
    notZero[63] = 1;
    const r1 = unpadPlaintext(notZero);
    assert(!r1.ok && r1.code === "bad-padding", "a non-zero padding byte");
    const r2 = unpadPlaintext(padded.subarray(0, 63));
    assert(!r2.ok && r2.code === "bad-length", "63 bytes");
    const r3 = unpadPlaintext(new Uint8Array(64).fill(0xff));
    assert(!r3.ok && r3.code === "bad-content", "no CBOR item");
    const r4 = unpadPlaintext(new Uint8Array(0));
    assert(!r4.ok && r4.code === "bad-length", "empty");
    assertThrows(() => padPlaintext(message, 65), /cannot pad/);
    assertEqual(padBlocks(1), 64);
    assertEqual(padBlocks(64), 64);
    assertEqual(recordPaddedLength(100, 5), 320);
    assertEqual(recordPaddedLength(400, 5), 448);
  });

  test("a record, a result and a status report share one frame sequence; each opens; sizes are the classes", () => {
    const crypto = new NobleCrypto(source(31));
    const deviceId = hex("0a0b0c0d0e0f1011");
    const identity = crypto.signatureKeyPair("ES256");
    const gateway = crypto.agreementKeyPair("P-256");
    const sealer = new FrameSealer({ crypto, deviceId, identityPrivateKey: identity.privateKey, signatureAlg: "ES256", gatewayPublicKey: gateway.publicKey, gatewayKeyId: hex("01"), agreementAlg: "P-256" });
    const announcement = sealer.openEpoch(3);
    const ann = decodeSign1(announcement);
    assert(ann.ok && ann.value.protectedHeaders.get(3) === CONTENT_TYPE_ANNOUNCEMENT, "the announcement carries its content type");
    const record: RecordV1 = { schema: 1, frameSeq: 0, firmwareVersion: "1.0.0", readings: [{ seq: 40, timeMs: 1767254400000, hrBpm: null, hrReason: 2, hrQuality: 0, tempC: 33.5, flags: 1, alerts: 8 }] };
    const frame = sealer.seal(record, 5);
    const result = signResult(crypto, "ES256", identity.privateKey, {
      deviceId,
      commandId: 4,
      status: "expired",
      op: "rotate-keys",
      role: "maintainer",
      deviceTimeMs: 1767254403000,
      body: new Map<CborKey, CborValue>([["detail", "expired at 1, now 2"]]),
    });
    const rs = decodeSign1(result);
    assert(rs.ok && rs.value.protectedHeaders.get(3) === CONTENT_TYPE_RESULT, "a result carries its content type");
    const sealedResult = sealer.sealSigned(1, result);
    const status = encodeUpdateStatus(crypto, "ES256", identity.privateKey, { deviceId, outcome: "rejected", reason: "unknown-key", version: "2.0.0", sequence: 2, offset: 0, detail: "", running: "1.0.0" });
    const sealedStatus = sealer.sealSigned(2, status);
    const sealedLog = sealer.sealSigned(3, result, LOG_RESULT_PADDED_LENGTH);
    assertThrows(() => sealer.sealSigned(3, result), /not after 3/);
    const ciphertext = (f: Uint8Array) => {
      const d = decodeEncrypt0(f);
      assert(d.ok, "an Encrypt0");
      return d.value.ciphertext.length;
    };
    assertEqual(ciphertext(frame), 320 + 16, "a 1-reading frame padded to the 5-reading class");
    assertEqual(ciphertext(sealedResult), MESSAGE_PADDED_LENGTH + 16);
    assertEqual(ciphertext(sealedStatus), MESSAGE_PADDED_LENGTH + 16);
    assertEqual(ciphertext(sealedLog), LOG_RESULT_PADDED_LENGTH + 16);
    const o = new FrameOpener({
      crypto,
      gatewayPrivateKey: gateway.privateKey,
      agreementAlg: "P-256",
      lookupDevice: (id) => (toHex(id) === toHex(deviceId) ? { identityPublicKey: identity.publicKey, signatureAlg: "ES256" } : null),
    });
    assertEqual(o.accept(announcement).kind, "epoch");
    const r0 = o.accept(frame);
    assert(r0.kind === "record" && r0.record.readings[0].hrReason === 2, why(r0));
    const r1 = o.accept(sealedResult);
    assert(r1.kind === "result" && r1.result.status === "expired" && r1.frameSeq === 1 && r1.gapBefore === 0, why(r1));
    const r2 = o.accept(sealedStatus);
    assert(r2.kind === "update-status" && r2.status.reason === "unknown-key", why(r2));
    const r3 = o.accept(sealedLog);
    assert(r3.kind === "result", why(r3));
    const again = o.accept(sealedResult);
    assert(again.kind === "rejected" && again.reason === "replay", why(again));
    // Nothing readable in the frames: the op and the status are not in clear.
    const text = (b: Uint8Array) => {
      let s = "";
      for (const x of b) s += String.fromCharCode(x);
      return s;
    };
    assert(text(sealedResult).indexOf("rotate-keys") < 0 && text(sealedResult).indexOf("expired") < 0, "no plaintext");
    assert(text(sealedStatus).indexOf("unknown-key") < 0, "no plaintext");
  });
});
