/**
 * The key file of a recording (`wearable sim --record DIR` writes DIR/keys.json, mode 0600): what
 * a verifier needs to check and replay DIR/messages.cborseq, and no long-term private key.
 * docs/simulator.md ("The recording's key file") describes the format.
 *
 * The gateway's static private key decrypts every epoch ever addressed to it, so it is not copied
 * into a recording. For each epoch the run opened, the file keeps instead that epoch's ECDH shared
 * secret Z (docs/protocol.md section 4: Z = ECDH(e, P_gateway)), from which the epoch's keys follow
 * by HKDF (section 5) and which opens that epoch's frames only. Z is captured where the gateway
 * computes it (its Crypto's `agree`); replay answers the same `agree` from the file, so every
 * check the gateway makes (signatures, epochs, replay window) runs unchanged.
 */
import type { Crypto, KeyAgreementAlgorithm, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { bytesEqual, fromHex, toHex } from "../../protocol/bytes.js";
import type { GatewayEvent } from "../gateway/gateway.js";

/** The value of the file's "format" field. Files without it are format 1 (they held the gateway's private key). */
export const RECORDING_KEYS_FORMAT = "wearable-recording-keys/2";

/** One epoch the run opened: its ephemeral public key and the shared secret Z, hex. */
export interface RecordedEpoch {
  /** Device id (16 hex digits) of the announcement. */
  deviceId: string;
  /** The epoch number, or null when the agreement was not followed by an opened epoch. */
  epoch: number | null;
  /** P_e of the announcement (65 bytes for P-256, 32 for X25519). */
  ephemeralPublicKey: string;
  /** Z = ECDH(gateway private key, P_e), 32 bytes. SECRET: it opens this epoch's frames. */
  sharedSecret: string;
}

/** DIR/keys.json, format 2. */
export interface RecordingKeysFile {
  format: typeof RECORDING_KEYS_FORMAT;
  note: string;
  deviceId: string;
  signatureAlg: SignatureAlgorithm;
  deviceIdentityPublicKey: string;
  /** Identity keys the device had before it was re-provisioned (announcements under them are "unknown-key"). */
  retiredIdentityPublicKeys: string[];
  agreementAlg: KeyAgreementAlgorithm;
  gatewayKeyId: string;
  gatewayPublicKey: string;
  /**
   * The run's seed and run nonce (host/sim/run-sim.ts): `wearable sim --seed S --run-nonce N` with
   * the run's other flags repeats it message for message. The nonce is as secret as the epochs'
   * shared secrets: with the seed it gives the device's ephemeral keys.
   */
  run?: { seed: number; runNonce: string };
  epochs: RecordedEpoch[];
}

/** A Crypto that is `inner` except for `agree`. */
export function withAgreement(inner: Crypto, agree: Crypto["agree"]): Crypto {
  return {
    randomBytes: (n) => inner.randomBytes(n),
    sha256: (d) => inner.sha256(d),
    sha256Stream: () => inner.sha256Stream(),
    hmacSha256: (k, d) => inner.hmacSha256(k, d),
    hkdfSha256: (ikm, salt, info, n) => inner.hkdfSha256(ikm, salt, info, n),
    aeadSeal: (alg, key, nonce, aad, pt) => inner.aeadSeal(alg, key, nonce, aad, pt),
    aeadOpen: (alg, key, nonce, aad, ct) => inner.aeadOpen(alg, key, nonce, aad, ct),
    signatureKeyPair: (alg, seed) => inner.signatureKeyPair(alg, seed),
    sign: (alg, key, msg) => inner.sign(alg, key, msg),
    verify: (alg, key, msg, sig) => inner.verify(alg, key, msg, sig),
    agreementKeyPair: (alg) => inner.agreementKeyPair(alg),
    agree,
  };
}

/**
 * The recording side: wraps the gateway's Crypto and keeps Z of every agreement made with the
 * gateway's key, to be written to the key file once the gateway says which epoch it opened.
 */
export class EpochSecretCapture {
  readonly crypto: Crypto;
  private pending: { ephemeralPublicKey: string; sharedSecret: string }[] = [];
  private readonly seen = new Set<string>();

  constructor(inner: Crypto, gatewayPrivateKey: Uint8Array) {
    const key = gatewayPrivateKey.slice();
    this.crypto = withAgreement(inner, (alg, privateKey, peer) => {
      const z = inner.agree(alg, privateKey, peer);
      if (z !== null && bytesEqual(privateKey, key)) this.pending.push({ ephemeralPublicKey: toHex(peer), sharedSecret: toHex(z) });
      return z;
    });
  }

  /** The secrets captured while the gateway handled the message that gave `event` (not recorded before). */
  take(event: GatewayEvent, deviceId: string): RecordedEpoch[] {
    const out: RecordedEpoch[] = [];
    for (const p of this.pending.splice(0)) {
      if (this.seen.has(p.ephemeralPublicKey)) continue;
      this.seen.add(p.ephemeralPublicKey);
      out.push({ deviceId: event.kind === "epoch" ? event.device : deviceId, epoch: event.kind === "epoch" ? event.epoch : null, ...p });
    }
    return out;
  }
}

/**
 * The replay side: a Crypto whose `agree` answers from the recorded secrets (by P_e); the gateway
 * built on it is given no private key. An announcement whose P_e has no recorded Z gets null (the
 * gateway rejects it) and is counted in `missing`.
 */
export class RecordedAgreement {
  readonly crypto: Crypto;
  readonly missing: string[] = [];

  constructor(inner: Crypto, epochs: readonly RecordedEpoch[]) {
    const byKey = new Map<string, Uint8Array>();
    for (const e of epochs) byKey.set(e.ephemeralPublicKey.toLowerCase(), fromHex(e.sharedSecret)!);
    this.crypto = withAgreement(inner, (_alg, _privateKey, peer) => {
      const z = byKey.get(toHex(peer));
      if (z === undefined) {
        this.missing.push(toHex(peer));
        return null;
      }
      return z.slice();
    });
  }
}
