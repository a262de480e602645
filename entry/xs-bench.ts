/**
 * Benchmark entry inside XS: seals frames with chosen algorithms so that the host can read the
 * engine's compute meter and heap per operation (host/bench/bench.ts).
 *
 * Host -> XS: "K" + JSON BenchSetup (creates the sealer); "E" + epoch (opens an epoch, replies
 * with the announcement size); "X" + count (seals that many frames, replies with the last size).
 */
import type { AeadAlgorithm, KeyAgreementAlgorithm, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { SimRng } from "../hal/sim/rng.js";
import { FrameSealer } from "../protocol/frame.js";
import type { RecordV1 } from "../protocol/record.js";
import { hexToBytes, utf8DecodeOrThrow as utf8Decode, utf8Encode } from "../protocol/bytes.js";

export interface BenchSetup {
  seed: number;
  deviceId: string;
  signingKey: string;
  signatureAlg: SignatureAlgorithm;
  gatewayPublicKey: string;
  gatewayKeyId: string;
  agreementAlg: KeyAgreementAlgorithm;
  aeadAlg: AeadAlgorithm;
  readingsPerFrame: number;
}

const host = globalThis as unknown as { handleCommand: (request: ArrayBuffer) => ArrayBuffer };
let sealer: FrameSealer | null = null;
let readingsPerFrame = 5;
let frameSeq = 0;
let readingSeq = 0;

function record(): RecordV1 {
  const readings = [];
  for (let i = 0; i < readingsPerFrame; i++) {
    readings.push({ seq: readingSeq, timeMs: 1767254400000 + readingSeq * 1000, hrBpm: 72.4, hrQuality: 97, tempC: 33.52, flags: 0 });
    readingSeq++;
  }
  return { schema: 1, frameSeq: frameSeq++, firmwareVersion: "1.0.0", readings };
}

function reply(value: unknown): ArrayBuffer {
  return utf8Encode(JSON.stringify(value)).buffer as ArrayBuffer;
}

host.handleCommand = (request: ArrayBuffer): ArrayBuffer => {
  const bytes = new Uint8Array(request);
  const op = String.fromCharCode(bytes[0]);
  const body = utf8Decode(bytes.subarray(1));
  if (op === "K") {
    const s = JSON.parse(body) as BenchSetup;
    const rng = new SimRng(s.seed);
    const crypto = new NobleCrypto((n) => {
      const out = new Uint8Array(n);
      rng.fillBytes(out);
      return out;
    });
    readingsPerFrame = s.readingsPerFrame;
    sealer = new FrameSealer({
      crypto,
      deviceId: hexToBytes(s.deviceId),
      identityPrivateKey: hexToBytes(s.signingKey),
      signatureAlg: s.signatureAlg,
      gatewayPublicKey: hexToBytes(s.gatewayPublicKey),
      gatewayKeyId: hexToBytes(s.gatewayKeyId),
      agreementAlg: s.agreementAlg,
      aeadAlg: s.aeadAlg,
    });
    return reply({ ok: true });
  }
  if (!sealer) throw new Error("bench: set up first");
  if (op === "E") return reply({ bytes: sealer.openEpoch(Number(body)).length });
  if (op === "X") {
    let size = 0;
    const count = Number(body);
    for (let i = 0; i < count; i++) size = sealer.seal(record()).length;
    return reply({ bytes: size });
  }
  throw new Error(`bench: unknown operation ${op}`);
};
