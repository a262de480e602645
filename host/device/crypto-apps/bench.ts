/// <reference path="../../../typings/index.d.ts" />
/// <reference path="./bench-native-types.d.ts" />
/**
 * Crypto benchmark app for the SDK's desktop simulator (release build), one run of one build:
 * the device's native ModdableCrypto against NobleCrypto (hal/portable/noble-crypto.ts, which is
 * in this image only), both sealing frames with protocol/frame.ts's FrameSealer.
 *
 *   boot to first frame   import the implementation's module, construct it and a FrameSealer,
 *                         open an epoch, seal the first frame (first use: noble builds its
 *                         precomputed tables here)
 *   seal                  one frame of a typical 5-reading record, steady state
 *   sign, verify, ECDH, key pair   the elliptic-curve operations alone
 *   AES-128-GCM, HMAC     PSA against the SDK's JavaScript `gcm` and `hmac` modules
 *   heap                  slots and chunk bytes allocated per operation, and what stays live
 *                         after garbage collection once the first frame is sealed
 *
 * Times: a monotonic microsecond clock; each figure is the median of 5 batches' means, each
 * batch long enough (>= 60 ms or the given count). The host (host/device/crypto-bench.ts) sends
 * "run" and receives the report.
 */
import { BlockCipher, Digest } from "crypt";
import GCM from "gcm";
import HMAC from "hmac";
import { heap, microseconds } from "bench-native";
import { p256GenerateKeyPair, randomFill } from "psa-crypto";
import type { Crypto, KeyPair } from "../../../hal/contracts/crypto.js";
import { FrameSealer } from "../../../protocol/frame.js";
import type { RecordV1 } from "../../../protocol/record.js";
import { toHex as bytesToHex } from "../../../protocol/bytes.js";
import { HarnessLink } from "./harness-link.js";

const READINGS_PER_FRAME = 5;
const BATCHES = 5;
const BATCH_MIN_US = 60_000;

interface CryptoModule {
  create(): Crypto;
}

/** Mean microseconds per call: median over batches; `minCalls` calls at least per batch. */
function time(f: () => void, minCalls = 1): number {
  f(); // warm
  const means: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    let calls = 0;
    const start = microseconds();
    let now = start;
    while (calls < minCalls || now - start < BATCH_MIN_US) {
      f();
      calls++;
      now = microseconds();
    }
    means.push((now - start) / calls);
  }
  means.sort((a, b) => a - b);
  return Math.round(means[BATCHES >> 1] * 10) / 10;
}

/** Slots and chunk bytes that one call allocates (no collection in between). */
function allocation(f: () => void): { slots: number; chunkBytes: number } {
  f();
  heap(true);
  const [s0, c0] = heap(false);
  f();
  const [s1, c1] = heap(false);
  return { slots: s1 - s0, chunkBytes: c1 - c0 };
}

let frameSeq = 0;
let readingSeq = 0;
function record(): RecordV1 {
  const readings = [];
  for (let i = 0; i < READINGS_PER_FRAME; i++) {
    readings.push({ seq: readingSeq, timeMs: 1767254400000 + readingSeq * 1000, hrBpm: 72.4, hrQuality: 97, tempC: 33.52, flags: 0 });
    readingSeq++;
  }
  return { schema: 1, frameSeq: frameSeq++, firmwareVersion: "1.0.0", readings };
}

interface Keys {
  deviceId: Uint8Array;
  identity: KeyPair;
  gateway: KeyPair;
}

function sealer(crypto: Crypto, keys: Keys): FrameSealer {
  return new FrameSealer({
    crypto,
    deviceId: keys.deviceId,
    identityPrivateKey: keys.identity.privateKey,
    signatureAlg: "ES256",
    gatewayPublicKey: keys.gateway.publicKey,
    gatewayKeyId: new Uint8Array([1]),
    agreementAlg: "P-256",
    aeadAlg: "A128GCM",
  });
}

/** Everything measured for one implementation; `load` imports its module (part of the boot time). */
async function measure(name: string, load: () => Promise<CryptoModule>, keys: Keys) {
  const [baseSlots, baseChunks] = heap(true);
  const t0 = microseconds();
  const module = await load();
  const crypto = module.create();
  const s = sealer(crypto, keys);
  const announcement = s.openEpoch(1);
  const firstFrame = s.seal(record());
  const bootToFirstFrameUs = Math.round(microseconds() - t0);
  const [liveSlots, liveChunks] = heap(true);

  const sealUs = time(() => s.seal(record()), 5);
  const sealAllocation = allocation(() => s.seal(record()));
  const frame = s.seal(record());
  let epoch = 1;
  const openEpochUs = time(() => s.openEpoch(++epoch));
  const message = new Uint8Array(180).fill(7);
  const signature = crypto.sign("ES256", keys.identity.privateKey, message);
  const signUs = time(() => crypto.sign("ES256", keys.identity.privateKey, message), 5);
  const verifyUs = time(() => crypto.verify("ES256", keys.identity.publicKey, message, signature), 5);
  const agreeUs = time(() => crypto.agree("P-256", keys.gateway.privateKey, keys.identity.publicKey), 5);
  const keyPairUs = time(() => crypto.agreementKeyPair("P-256"), 5);
  trace(`crypto-bench: ${name} done\n`);
  return {
    report: {
      bootToFirstFrameUs,
      sealUs,
      openEpochUs,
      signUs,
      verifyUs,
      agreeUs,
      keyPairUs,
      sealAllocatedSlots: sealAllocation.slots,
      sealAllocatedChunkBytes: sealAllocation.chunkBytes,
      /** Live after GC once the first frame is sealed, less live before the module was imported. */
      liveSlotsAfterFirstFrame: liveSlots - baseSlots,
      liveChunkBytesAfterFirstFrame: liveChunks - baseChunks,
      frameBytes: frame.length,
    },
    frames: { announcement: bytesToHex(announcement), first: bytesToHex(firstFrame), later: bytesToHex(frame) },
  };
}

function symmetric(native: Crypto) {
  const key = new Uint8Array(16).fill(3);
  const nonce = new Uint8Array(12).fill(5);
  const aad = new Uint8Array(24).fill(9);
  // About the inner COSE_Sign1 of a 5-reading frame.
  const body = new Uint8Array(200).fill(1);
  const sdkGcmSeal = () => {
    const gcm = new GCM(new BlockCipher("AES", key.slice().buffer as ArrayBuffer), 16);
    return gcm.process(body.slice().buffer as ArrayBuffer, undefined, nonce.slice().buffer as ArrayBuffer, aad.slice().buffer as ArrayBuffer, true);
  };
  const sdkHmac = () => new HMAC(new Digest("SHA256"), key.slice().buffer as ArrayBuffer).process(body.slice().buffer as ArrayBuffer);
  // The two agree before they are timed.
  const a = bytesToHex(native.aeadSeal("A128GCM", key, nonce, aad, body));
  const b = bytesToHex(new Uint8Array(sdkGcmSeal()!));
  if (a !== b) throw new Error("the SDK's gcm and PSA disagree");
  if (bytesToHex(native.hmacSha256(key, body)) !== bytesToHex(new Uint8Array(sdkHmac()))) throw new Error("the SDK's hmac and PSA disagree");
  return {
    gcmSeal200Bytes: {
      psaUs: time(() => native.aeadSeal("A128GCM", key, nonce, aad, body), 20),
      sdkUs: time(sdkGcmSeal, 20),
      psaAllocation: allocation(() => native.aeadSeal("A128GCM", key, nonce, aad, body)),
      sdkAllocation: allocation(sdkGcmSeal),
    },
    hmac200Bytes: {
      psaUs: time(() => native.hmacSha256(key, body), 20),
      sdkUs: time(sdkHmac, 20),
      psaAllocation: allocation(() => native.hmacSha256(key, body)),
      sdkAllocation: allocation(sdkHmac),
    },
  };
}

function random(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  randomFill(bytes);
  return bytes;
}

function keyPair(): KeyPair {
  const privateKey = new Uint8Array(32);
  const publicKey = new Uint8Array(65);
  p256GenerateKeyPair(privateKey, publicKey);
  return { privateKey, publicKey };
}

async function run() {
  // The same keys for both implementations (straight from the native module, which is preloaded,
  // so neither implementation's module is loaded before its own boot measurement).
  const keys: Keys = { deviceId: random(8), identity: keyPair(), gateway: keyPair() };
  let native: Crypto | null = null;
  const nativeRun = await measure(
    "native",
    async () => {
      const { ModdableCrypto } = await import("../../../hal/moddable/crypto.js");
      return { create: () => (native = new ModdableCrypto()) };
    },
    keys,
  );
  const nobleRun = await measure(
    "noble",
    async () => {
      const { NobleCrypto } = await import("../../../hal/portable/noble-crypto.js");
      // NobleCrypto draws its blinding and key bytes from PSA's generator here.
      return { create: () => new NobleCrypto(random) };
    },
    keys,
  );
  return {
    readingsPerFrame: READINGS_PER_FRAME,
    native: nativeRun.report,
    noble: nobleRun.report,
    symmetric: symmetric(native!),
    frames: { native: nativeRun.frames, noble: nobleRun.frames },
    keys: {
      deviceId: bytesToHex(keys.deviceId),
      identityPublicKey: bytesToHex(keys.identity.publicKey),
      gatewayPrivateKey: bytesToHex(keys.gateway.privateKey),
    },
  };
}

const link: HarnessLink = new HarnessLink({ app: "crypto-bench" }, (message) => {
  const m = message as { id: number; op: string };
  if (m.op !== "run") {
    link.send({ id: m.id, error: `unknown operation ${m.op}` });
    return;
  }
  run().then(
    (report) => link.send({ id: m.id, report }),
    (e: unknown) => link.send({ id: m.id, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }),
  );
});
