/**
 * Frames v1: epoch announcements and data frames between a wearable and its gateway.
 *
 * - Epoch announcement: COSE_Sign1 (device identity key) over a CBOR map that carries the
 *   device's ephemeral key-agreement public key for epoch E. The device and the gateway derive
 *   the epoch's content key and base IV from ECDH(ephemeral, gateway static key) with HKDF.
 * - Data frame: COSE_Encrypt0 (epoch content key, Partial IV = frame sequence number) whose
 *   plaintext is a COSE_Sign1 (device identity key) over a schema-1 record (sign, then encrypt),
 *   or over a command result or an update status report (`sealSigned`): everything the device
 *   says after its announcement travels encrypted. The inner COSE_Sign1's content type
 *   (protocol/content-types.ts) says which; the plaintext is padded to a size class
 *   (protocol/padding.ts) so that sizes do not tell what a frame holds.
 *
 * `FrameSealer` is the device side; `FrameOpener` the receiving side (portable, so a verifier
 * can run anywhere). docs/protocol.md is the normative, byte-exact description.
 */
import type { AeadAlgorithm, Crypto, KeyAgreementAlgorithm, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import { bytesEqual, concatBytes, fromHex, toHex, utf8Encode } from "./bytes.js";
import { CborWriter, decodeCbor, describeCborError, type CborValue } from "./cbor.js";
import { parseResultPayload, type CommandResult } from "./command.js";
import { CONTENT_TYPE_ANNOUNCEMENT, CONTENT_TYPE_RECORD, CONTENT_TYPE_RESULT, CONTENT_TYPE_UPDATE_STATUS } from "./content-types.js";
import {
  HEADER_ALG,
  HEADER_CONTENT_TYPE,
  HEADER_KID,
  HEADER_PARTIAL_IV,
  TAG_ENCRYPT0,
  TAG_SIGN1,
  aeadAlgFromId,
  aeadAlgId,
  aeadKeyLength,
  createSign1,
  decodeEncrypt0,
  decodePartialIv,
  decodeSign1,
  encStructure,
  encodePartialIv,
  encodeProtected,
  openEncrypt0Prepared,
  partialIvNonce,
  protectedForStructure,
  signatureAlgFromId,
  signatureAlgId,
  verifySign1,
  type CoseEncrypt0,
  type CoseSign1,
  type HeaderMap,
} from "./cose.js";
import { MESSAGE_PADDED_LENGTH, messagePaddedLength, recordPaddedLength, unpadPlaintext } from "./padding.js";
import { MAX_FRAME_SEQ, RECORD_SCHEMA, decodeRecord, writeRecord, type RecordV1 } from "./record.js";
import { parseUpdateStatusPayload, type UpdateStatus } from "./update-manifest.js";

export const DEVICE_ID_LENGTH = 8;
export const MAX_EPOCH = 0xffffffff;
export const MAX_GATEWAY_KEY_ID_LENGTH = 32;
export const BASE_IV_LENGTH = 12;
/** Stream id of reading records in the external AAD. */
export const STREAM_READINGS = 0;
/** Announcement `type` value for "epoch open". */
export const ANNOUNCEMENT_EPOCH_OPEN = 1;
export const KDF_LABEL = "wearable frame v1";
/** Version byte and label that open the HKDF salt (the epoch's key-derivation context). */
export const KDF_CONTEXT_VERSION = 1;
export const KDF_CONTEXT_LABEL = "wearable epoch";
export const MAX_FRAME_BYTES = 4096;
export const MAX_ANNOUNCEMENT_BYTES = 512;
export const DEFAULT_REPLAY_WINDOW = 64;
export const DEFAULT_EPOCHS_RETAINED = 32;

/** Announcement payload map keys. */
export const ANN_KEY_TYPE = 1;
export const ANN_KEY_DEVICE = 2;
export const ANN_KEY_EPOCH = 3;
export const ANN_KEY_EPHEMERAL_KEY = 4;
export const ANN_KEY_GATEWAY_KEY_ID = 5;
export const ANN_KEY_AGREEMENT = 6;
export const ANN_KEY_AEAD = 7;

/** COSE elliptic-curve identifiers (RFC 9053 table 18) naming the key-agreement algorithm. */
export const COSE_CRV_P256 = 1;
export const COSE_CRV_X25519 = 4;

export function agreementCurveId(alg: KeyAgreementAlgorithm): number {
  return alg === "P-256" ? COSE_CRV_P256 : COSE_CRV_X25519;
}

export function agreementAlgFromCurveId(id: CborValue | undefined): KeyAgreementAlgorithm | null {
  if (id === COSE_CRV_P256) return "P-256";
  if (id === COSE_CRV_X25519) return "X25519";
  return null;
}

export function agreementPublicKeyLength(alg: KeyAgreementAlgorithm): number {
  return alg === "P-256" ? 65 : 32;
}

function validAgreementPublicKey(alg: KeyAgreementAlgorithm, key: Uint8Array): boolean {
  return key.length === agreementPublicKeyLength(alg) && (alg !== "P-256" || key[0] === 0x04);
}

function u32be(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

/** external_aad of both layers of a data frame: CBOR [deviceId, stream id, epoch, schema]. */
export function frameExternalAad(deviceId: Uint8Array, epoch: number, stream = STREAM_READINGS, schema = RECORD_SCHEMA): Uint8Array {
  return new CborWriter(32).arrayHeader(4).bytes(deviceId).int(stream).int(epoch).int(schema).toBytes();
}

/** kid of a data frame: deviceId || epoch (4 bytes, big-endian). */
export function frameKid(deviceId: Uint8Array, epoch: number): Uint8Array {
  return concatBytes(deviceId, u32be(epoch));
}

export interface EpochKeyInputs {
  sharedSecret: Uint8Array;
  deviceId: Uint8Array;
  /** The device's identity public key (P-256 uncompressed, 65 bytes; Ed25519 raw, 32 bytes): the gateway's registered one. */
  identityPublicKey: Uint8Array;
  epoch: number;
  aeadAlg: AeadAlgorithm;
  agreementAlg: KeyAgreementAlgorithm;
  signatureAlg: SignatureAlgorithm;
  ephemeralPublicKey: Uint8Array;
  gatewayKeyId: Uint8Array;
}

export interface EpochKeys {
  contentKey: Uint8Array;
  baseIv: Uint8Array;
  /**
   * 32 bytes that authenticate the link's queue envelopes (device to gateway) and the gateway's
   * acknowledgements (protocol/link-messages.ts): HKDF output after the content key and IV.
   */
  linkKey: Uint8Array;
}

/** Length of the epoch's link authentication key. */
export const LINK_KEY_LENGTH = 32;

/**
 * The HKDF salt, the epoch's key-derivation context (docs/protocol.md section 5): version byte
 * 0x01, then the label "wearable epoch", the device id, the device's identity public key and the
 * gateway key id, each as BE16(length) || bytes, then BE32(epoch). The keys of one ECDH secret
 * are thus bound to the device, its identity key and the gateway key it announced.
 */
export function epochKdfSalt(i: Pick<EpochKeyInputs, "deviceId" | "identityPublicKey" | "gatewayKeyId" | "epoch">): Uint8Array {
  const fields = [utf8Encode(KDF_CONTEXT_LABEL), i.deviceId, i.identityPublicKey, i.gatewayKeyId];
  let length = 1 + 4;
  for (const f of fields) {
    if (f.length > 0xffff) throw new RangeError("key-derivation context field longer than 65535 bytes");
    length += 2 + f.length;
  }
  const out = new Uint8Array(length);
  out[0] = KDF_CONTEXT_VERSION;
  let at = 1;
  for (const f of fields) {
    out[at] = f.length >>> 8;
    out[at + 1] = f.length & 0xff;
    out.set(f, at + 2);
    at += 2 + f.length;
  }
  out.set(u32be(i.epoch), at);
  return out;
}

/** The HKDF info: CBOR ["wearable frame v1", aead alg, agreement curve, signature alg, ephemeral key, gateway key id]. */
export function epochKdfInfo(i: Omit<EpochKeyInputs, "sharedSecret" | "deviceId" | "identityPublicKey" | "epoch">): Uint8Array {
  return new CborWriter(128)
    .arrayHeader(6)
    .text(KDF_LABEL)
    .int(aeadAlgId(i.aeadAlg))
    .int(agreementCurveId(i.agreementAlg))
    .int(signatureAlgId(i.signatureAlg))
    .bytes(i.ephemeralPublicKey)
    .bytes(i.gatewayKeyId)
    .toBytes();
}

/**
 * HKDF-SHA256(ikm = shared secret, salt = `epochKdfSalt`, info = `epochKdfInfo`) -> content key
 * || base IV || link key. HKDF's output does not depend on its length, so the content key and IV are the
 * same bytes as without the link key.
 */
export function deriveEpochKeys(crypto: Crypto, i: EpochKeyInputs): EpochKeys {
  const keyLength = aeadKeyLength(i.aeadAlg);
  const ivEnd = keyLength + BASE_IV_LENGTH;
  const okm = crypto.hkdfSha256(i.sharedSecret, epochKdfSalt(i), epochKdfInfo(i), ivEnd + LINK_KEY_LENGTH);
  const keys = { contentKey: okm.slice(0, keyLength), baseIv: okm.slice(keyLength, ivEnd), linkKey: okm.slice(ivEnd, ivEnd + LINK_KEY_LENGTH) };
  okm.fill(0);
  return keys;
}

// ---------------------------------------------------------------------------------------------
// Device side

export interface FrameSealerOptions {
  crypto: Crypto;
  deviceId: Uint8Array;
  identityPrivateKey: Uint8Array;
  /**
   * The identity public key of `identityPrivateKey` (part of the epoch keys' derivation context).
   * Absent: derived from the private key once, when the sealer is made.
   */
  identityPublicKey?: Uint8Array;
  signatureAlg: SignatureAlgorithm;
  gatewayPublicKey: Uint8Array;
  gatewayKeyId: Uint8Array;
  agreementAlg: KeyAgreementAlgorithm;
  aeadAlg?: AeadAlgorithm;
}

interface SealingEpoch {
  epoch: number;
  keys: EpochKeys;
  externalAad: Uint8Array;
  encAad: Uint8Array;
  kid: Uint8Array;
}

/**
 * Seals records (`seal`) and the device's signed command results and update status reports
 * (`sealSigned`) into data frames. Nonce safety: each epoch has a fresh content key, and every
 * frame sealed under it, whatever it carries, takes its Partial IV from one sequence, the frame
 * sequence number, which must strictly increase across `seal` and `sealSigned` alike (both check
 * and advance the same `lastFrameSeq`). So no two frames sealed under one key share a Partial
 * IV, and since nonce = base IV XOR Partial IV is injective in the Partial IV, no two share a
 * nonce: a result or a report can never reuse a record's nonce, nor the reverse. The caller takes
 * the numbers from one persistent counter (firmware/app.ts: `counters/frameSeq`) and persists
 * epochs and frame sequence numbers across restarts.
 */
export class FrameSealer {
  private readonly o: Required<FrameSealerOptions>;
  private current: SealingEpoch | null = null;
  /** The epoch before the current one (its link key only: acknowledgements may still name it). */
  private previous: { epoch: number; linkKey: Uint8Array } | null = null;
  private announcement: Uint8Array | null = null;
  private lastFrameSeq = -1;
  private readonly recordWriter = new CborWriter(512);
  private readonly workWriter = new CborWriter(640);
  private readonly signProtected: Uint8Array;
  private readonly aeadProtected: Uint8Array;
  private readonly innerUnprotected: Uint8Array;

  constructor(options: FrameSealerOptions) {
    const o = { aeadAlg: "A128GCM" as AeadAlgorithm, ...options };
    if (!(o.deviceId instanceof Uint8Array) || o.deviceId.length !== DEVICE_ID_LENGTH) throw new RangeError("deviceId must be 8 bytes");
    if (o.gatewayKeyId.length < 1 || o.gatewayKeyId.length > MAX_GATEWAY_KEY_ID_LENGTH) throw new RangeError("gatewayKeyId must be 1..32 bytes");
    if (!validAgreementPublicKey(o.agreementAlg, o.gatewayPublicKey)) throw new RangeError(`gateway public key is not a ${o.agreementAlg} public key`);
    if (o.signatureAlg !== "ES256" && o.signatureAlg !== "EdDSA") throw new RangeError("unsupported signature algorithm");
    if (o.aeadAlg !== "A128GCM" && o.aeadAlg !== "ChaCha20/Poly1305") throw new RangeError("unsupported AEAD algorithm");
    const identityPublicKey = o.identityPublicKey ?? o.crypto.signatureKeyPair(o.signatureAlg, o.identityPrivateKey).publicKey;
    this.o = { ...o, deviceId: o.deviceId.slice(), gatewayKeyId: o.gatewayKeyId.slice(), identityPublicKey: identityPublicKey.slice() };
    this.signProtected = encodeProtected(new Map([[HEADER_ALG, signatureAlgId(o.signatureAlg)], [HEADER_CONTENT_TYPE, CONTENT_TYPE_RECORD]]));
    this.aeadProtected = encodeProtected(new Map([[HEADER_ALG, aeadAlgId(o.aeadAlg)]]));
    this.innerUnprotected = new CborWriter(16).mapHeader(1).int(HEADER_KID).bytes(this.o.deviceId).toBytes();
  }

  /** The open epoch, or null before the first `openEpoch`. */
  get epoch(): number | null {
    return this.current === null ? null : this.current.epoch;
  }

  /** The open epoch's announcement, as `openEpoch` returned it (sent again on request). */
  get currentAnnouncement(): Uint8Array | null {
    return this.announcement;
  }

  /** The link key of the open epoch or of the one before it; null for any other epoch. */
  linkKey(epoch: number): Uint8Array | null {
    if (this.current !== null && this.current.epoch === epoch) return this.current.keys.linkKey;
    if (this.previous !== null && this.previous.epoch === epoch) return this.previous.linkKey;
    return null;
  }

  /**
   * Opens epoch `epoch` (strictly greater than any epoch opened by this sealer): generates an
   * ephemeral key pair, derives the epoch keys, forgets the ephemeral private key, and returns
   * the signed announcement to send before the epoch's frames.
   */
  openEpoch(epoch: number): Uint8Array {
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) throw new RangeError(`epoch ${epoch} outside 0..2^32-1`);
    if (this.current !== null && epoch <= this.current.epoch) throw new RangeError(`epoch ${epoch} is not after ${this.current.epoch}`);
    const o = this.o;
    const eph = o.crypto.agreementKeyPair(o.agreementAlg);
    const shared = o.crypto.agree(o.agreementAlg, eph.privateKey, o.gatewayPublicKey);
    eph.privateKey.fill(0);
    if (shared === null) throw new RangeError("key agreement with the gateway public key failed");
    const keys = deriveEpochKeys(o.crypto, {
      sharedSecret: shared,
      deviceId: o.deviceId,
      identityPublicKey: o.identityPublicKey,
      epoch,
      aeadAlg: o.aeadAlg,
      agreementAlg: o.agreementAlg,
      signatureAlg: o.signatureAlg,
      ephemeralPublicKey: eph.publicKey,
      gatewayKeyId: o.gatewayKeyId,
    });
    shared.fill(0);
    const externalAad = frameExternalAad(o.deviceId, epoch);
    if (this.previous !== null) this.previous.linkKey.fill(0);
    if (this.current !== null) {
      this.previous = { epoch: this.current.epoch, linkKey: this.current.keys.linkKey };
      this.current.keys.contentKey.fill(0);
    }
    this.current = {
      epoch,
      keys,
      externalAad,
      encAad: encStructure(this.aeadProtected, externalAad),
      kid: frameKid(o.deviceId, epoch),
    };
    const payload = new CborWriter(160)
      .mapHeader(7)
      .int(ANN_KEY_TYPE)
      .int(ANNOUNCEMENT_EPOCH_OPEN)
      .int(ANN_KEY_DEVICE)
      .bytes(o.deviceId)
      .int(ANN_KEY_EPOCH)
      .int(epoch)
      .int(ANN_KEY_EPHEMERAL_KEY)
      .bytes(eph.publicKey)
      .int(ANN_KEY_GATEWAY_KEY_ID)
      .bytes(o.gatewayKeyId)
      .int(ANN_KEY_AGREEMENT)
      .int(agreementCurveId(o.agreementAlg))
      .int(ANN_KEY_AEAD)
      .int(aeadAlgId(o.aeadAlg))
      .toBytes();
    this.announcement = createSign1({
      crypto: o.crypto,
      alg: o.signatureAlg,
      privateKey: o.identityPrivateKey,
      payload,
      protectedHeaders: new Map([[HEADER_CONTENT_TYPE, CONTENT_TYPE_ANNOUNCEMENT]]),
      unprotectedHeaders: new Map([[HEADER_KID, o.deviceId]]),
    });
    return this.announcement;
  }

  /**
   * Signs and encrypts a record; `record.frameSeq` becomes the Partial IV and must increase. The
   * plaintext is padded (protocol/padding.ts) to at least the size of the largest record of
   * `padReadings` readings (default: the record's own count): the device passes its readings per
   * frame, so that a frame sent early (an alert) or holding nulls is as long as any other.
   */
  seal(record: RecordV1, padReadings: number = record.readings.length): Uint8Array {
    const e = this.current;
    if (e === null) throw new RangeError("no epoch is open");
    const seq = record.frameSeq;
    this.checkFrameSeq(seq);
    const o = this.o;
    // Two long-lived writers: the record stays in one while the other builds, in turn, the
    // Sig_structure, the inner COSE_Sign1 and the frame; the views are consumed before reuse.
    const payload = writeRecord(record, this.recordWriter).view();

    // Sig_structure = ["Signature1", protected, external_aad, payload]
    const w = this.workWriter.reset();
    w.arrayHeader(4).text("Signature1").bytes(this.signProtected).bytes(e.externalAad).bytes(payload);
    const signature = o.crypto.sign(o.signatureAlg, o.identityPrivateKey, w.view());

    // Inner COSE_Sign1 (tag 18), then zero bytes up to the size class
    w.reset().tag(TAG_SIGN1).arrayHeader(4).bytes(this.signProtected).raw(this.innerUnprotected).bytes(payload).bytes(signature);
    w.zeros(recordPaddedLength(w.length, padReadings) - w.length);
    return this.encrypt(e, seq, w);
  }

  /**
   * Encrypts a message the device signed itself, a command result (content type 65002) or an
   * update status report (65007), as a data frame numbered `frameSeq` (taken from the same
   * sequence as the records' frames, and so checked against them). Its plaintext is padded to
   * `paddedLength` (default MESSAGE_PADDED_LENGTH, 512 bytes; more when the message is longer).
   * Throws RangeError for anything else (a programming error).
   */
  sealSigned(frameSeq: number, signed: Uint8Array, paddedLength: number = MESSAGE_PADDED_LENGTH): Uint8Array {
    const e = this.current;
    if (e === null) throw new RangeError("no epoch is open");
    this.checkFrameSeq(frameSeq);
    const d = decodeSign1(signed, { maxLength: MAX_FRAME_BYTES });
    if (!d.ok) throw new RangeError(`not a COSE_Sign1: ${d.error.message}`);
    const ct = d.value.protectedHeaders.get(HEADER_CONTENT_TYPE);
    if (ct !== CONTENT_TYPE_RESULT && ct !== CONTENT_TYPE_UPDATE_STATUS) throw new RangeError(`content type ${String(ct)} is not sealed with sealSigned`);
    const kid = d.value.unprotectedHeaders.get(HEADER_KID);
    if (!(kid instanceof Uint8Array) || !bytesEqual(kid, this.o.deviceId)) throw new RangeError("the message does not name this device");
    const w = this.workWriter.reset().raw(signed);
    w.zeros(messagePaddedLength(signed.length, paddedLength) - signed.length);
    return this.encrypt(e, frameSeq, w);
  }

  private checkFrameSeq(seq: number): void {
    if (!Number.isInteger(seq) || seq < 0 || seq > MAX_FRAME_SEQ) throw new RangeError(`frameSeq ${seq} outside 0..2^40-1`);
    if (seq <= this.lastFrameSeq) throw new RangeError(`frameSeq ${seq} is not after ${this.lastFrameSeq}`);
  }

  /** Encrypts the padded plaintext in `w` as frame `seq` of epoch `e`; returns the COSE_Encrypt0. */
  private encrypt(e: SealingEpoch, seq: number, w: CborWriter): Uint8Array {
    const o = this.o;
    const piv = encodePartialIv(seq);
    const ciphertext = o.crypto.aeadSeal(o.aeadAlg, e.keys.contentKey, partialIvNonce(e.keys.baseIv, piv), e.encAad, w.view());
    this.lastFrameSeq = seq;

    // Outer COSE_Encrypt0 (tag 16): unprotected {4: kid, 6: piv}
    w.reset()
      .tag(TAG_ENCRYPT0)
      .arrayHeader(3)
      .bytes(this.aeadProtected)
      .mapHeader(2)
      .int(HEADER_KID)
      .bytes(e.kid)
      .int(HEADER_PARTIAL_IV)
      .bytes(piv)
      .bytes(ciphertext);
    return w.toBytes();
  }
}

// ---------------------------------------------------------------------------------------------
// Receiving side

export type RejectReason =
  | "malformed"
  | "unknown-device"
  | "unknown-key"
  | "unknown-epoch"
  | "stale-epoch"
  | "decrypt-failed"
  | "bad-signature"
  | "replay"
  | "counter-outside-window"
  | "unsupported-schema"
  | "inconsistent";

export const REJECT_REASONS: readonly RejectReason[] = [
  "malformed",
  "unknown-device",
  "unknown-key",
  "unknown-epoch",
  "stale-epoch",
  "decrypt-failed",
  "bad-signature",
  "replay",
  "counter-outside-window",
  "unsupported-schema",
  "inconsistent",
];

export type OpenResult =
  | { kind: "epoch"; deviceId: Uint8Array; epoch: number; /** true when this announcement was already accepted (ignored). */ repeated: boolean }
  | {
      kind: "record";
      deviceId: Uint8Array;
      epoch: number;
      frameSeq: number;
      record: RecordV1;
      /** Frame sequence numbers skipped between the previous highest and this frame (0 if none or late). */
      gapBefore: number;
      /** True when the frame is older than the highest accepted one (accepted once, within the window). */
      late: boolean;
    }
  | {
      /** A data frame carrying a command result (content type 65002), verified with the device key. */
      kind: "result";
      deviceId: Uint8Array;
      epoch: number;
      frameSeq: number;
      result: CommandResult;
      gapBefore: number;
      late: boolean;
    }
  | {
      /** A data frame carrying an update status report (content type 65007), verified with the device key. */
      kind: "update-status";
      deviceId: Uint8Array;
      epoch: number;
      frameSeq: number;
      status: UpdateStatus;
      gapBefore: number;
      late: boolean;
    }
  | { kind: "rejected"; reason: RejectReason; detail: string };

export interface DeviceIdentity {
  identityPublicKey: Uint8Array;
  signatureAlg: SignatureAlgorithm;
  /**
   * Identity keys the device had before it was re-keyed (re-provisioned). An announcement that
   * verifies only under one of them is "unknown-key", not "bad-signature".
   */
  retiredKeys?: readonly Uint8Array[];
}

export interface FrameOpenerOptions {
  crypto: Crypto;
  gatewayPrivateKey: Uint8Array;
  agreementAlg: KeyAgreementAlgorithm;
  /** The registered device of an id (`hex`, when given, is the id in lowercase hex). */
  lookupDevice(deviceId: Uint8Array, hex?: string): DeviceIdentity | null;
  /** When given, announcements naming another gateway key are rejected. */
  gatewayKeyId?: Uint8Array;
  /** Replay window in frames (default 64, 1..1024). */
  replayWindow?: number;
  /** Epoch keys kept per device (default 4): frames of older epochs are "stale-epoch". */
  epochsRetained?: number;
}

interface OpeningEpoch {
  epoch: number;
  aeadAlg: AeadAlgorithm;
  ephemeralPublicKey: Uint8Array;
  keys: EpochKeys;
  externalAad: Uint8Array;
  /** The Enc_structure of the epoch's frames, kept with the protected header it was built for. */
  encAad?: { protectedBytes: Uint8Array; aad: Uint8Array };
}

interface DeviceState {
  /** Newest epoch ever accepted for the device (kept even when its keys are not). */
  newestEpoch: number;
  epochs: OpeningEpoch[];
  highestSeq: number;
  /** Bit i set: frame highestSeq - i was accepted. */
  window: bigint;
}

/**
 * The keys of one device's open epochs: what a gateway must keep across restarts (encrypted at
 * rest), or every frame still queued on the device under those epochs becomes unreadable. Hex.
 */
export interface DeviceEpochSecrets {
  deviceId: string;
  epochs: { epoch: number; aeadAlg: AeadAlgorithm; ephemeralPublicKey: string; contentKey: string; baseIv: string; linkKey: string }[];
}

/** Replay state of one device, without any key: what a gateway persists across restarts. */
export interface DeviceReplayState {
  deviceId: string;
  newestEpoch: number;
  /** -1 when no frame was accepted yet. */
  highestSeq: number;
  /** Window bitmap as hex (bit i: highestSeq - i accepted). */
  window: string;
}

function rejected(reason: RejectReason, detail: string): OpenResult {
  return { kind: "rejected", reason, detail };
}

/** The header labels each bucket may hold (made once: the checks run for every frame). */
const ALG_ONLY: readonly number[] = [HEADER_ALG];
const ALG_AND_CONTENT_TYPE: readonly number[] = [HEADER_ALG, HEADER_CONTENT_TYPE];
const KID_ONLY: readonly number[] = [HEADER_KID];
const KID_AND_PARTIAL_IV: readonly number[] = [HEADER_KID, HEADER_PARTIAL_IV];
const ANNOUNCEMENT_KEYS: readonly number[] = [1, 2, 3, 4, 5, 6, 7];

function onlyKeys(m: HeaderMap, allowed: readonly number[]): boolean {
  for (const k of m.keys()) if (typeof k !== "number" || allowed.indexOf(k) < 0) return false;
  return true;
}

/**
 * Opens announcements and frames from registered devices: verifies, decrypts, checks replay
 * and consistency. `accept` never throws on any input; state changes only for accepted input.
 */
export class FrameOpener {
  private readonly o: FrameOpenerOptions;
  private readonly windowSize: number;
  private readonly windowMask: bigint;
  private readonly epochsRetained: number;
  private readonly devices = new Map<string, DeviceState>();

  constructor(options: FrameOpenerOptions) {
    this.o = options;
    const w = options.replayWindow ?? DEFAULT_REPLAY_WINDOW;
    if (!Number.isInteger(w) || w < 1 || w > 1024) throw new RangeError("replayWindow must be 1..1024");
    this.windowSize = w;
    this.windowMask = (BigInt(1) << BigInt(w)) - BigInt(1);
    const r = options.epochsRetained ?? DEFAULT_EPOCHS_RETAINED;
    if (!Number.isInteger(r) || r < 1 || r > 64) throw new RangeError("epochsRetained must be 1..64");
    this.epochsRetained = r;
  }

  accept(bytes: Uint8Array): OpenResult {
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) return rejected("malformed", "empty message");
    // 0xd2 = tag 18 (COSE_Sign1), 0xd0 = tag 16 (COSE_Encrypt0)
    if (bytes[0] === 0xd2) return this.acceptAnnouncement(bytes);
    if (bytes[0] === 0xd0) return this.acceptFrame(bytes);
    return rejected("malformed", "not a tagged COSE_Sign1 (18) or COSE_Encrypt0 (16)");
  }

  /** Replay state of every known device, or of those in `only` (no keys). */
  exportReplayState(only?: ReadonlySet<string>): DeviceReplayState[] {
    const out: DeviceReplayState[] = [];
    for (const [id, s] of this.devices) {
      if (only !== undefined && !only.has(id)) continue;
      out.push({ deviceId: id, newestEpoch: s.newestEpoch, highestSeq: s.highestSeq, window: s.window.toString(16) });
    }
    return out;
  }

  /**
   * Restores replay state saved by `exportReplayState` (e.g. after a restart). Devices then
   * re-announce their current epoch; announcements and frames older than the saved state are
   * rejected as before.
   */
  importReplayState(states: readonly DeviceReplayState[]): void {
    for (const s of states) {
      if (!/^[0-9a-f]{16}$/.test(s.deviceId) || !/^[0-9a-f]{1,300}$/.test(s.window)) throw new RangeError("bad replay state");
      if (!Number.isInteger(s.newestEpoch) || s.newestEpoch < 0 || s.newestEpoch > MAX_EPOCH) throw new RangeError("bad replay state epoch");
      if (!Number.isInteger(s.highestSeq) || s.highestSeq < -1 || s.highestSeq > MAX_FRAME_SEQ) throw new RangeError("bad replay state seq");
      this.devices.set(s.deviceId, {
        newestEpoch: s.newestEpoch,
        epochs: [],
        highestSeq: s.highestSeq,
        window: BigInt("0x" + s.window) & this.windowMask,
      });
    }
  }

  /** The link key of a device's epoch, when its keys are known. */
  linkKey(deviceId: string, epoch: number): Uint8Array | null {
    const e = this.devices.get(deviceId)?.epochs.find((x) => x.epoch === epoch);
    return e ? e.keys.linkKey : null;
  }

  /** The newest epoch whose keys are known for a device, or null. */
  newestKnownEpoch(deviceId: string): number | null {
    const epochs = this.devices.get(deviceId)?.epochs;
    return epochs && epochs.length ? epochs[epochs.length - 1].epoch : null;
  }

  /** Every device's open epochs with their keys, or those of the devices in `only` (secret: persist encrypted). */
  exportEpochSecrets(only?: ReadonlySet<string>): DeviceEpochSecrets[] {
    const out: DeviceEpochSecrets[] = [];
    for (const [id, s] of this.devices) {
      if (!s.epochs.length || (only !== undefined && !only.has(id))) continue;
      out.push({
        deviceId: id,
        epochs: s.epochs.map((e) => ({ epoch: e.epoch, aeadAlg: e.aeadAlg, ephemeralPublicKey: toHex(e.ephemeralPublicKey), contentKey: toHex(e.keys.contentKey), baseIv: toHex(e.keys.baseIv), linkKey: toHex(e.keys.linkKey) })),
      });
    }
    return out;
  }

  /** Restores epoch keys saved by `exportEpochSecrets` (after `importReplayState`, if both are kept). */
  importEpochSecrets(secrets: readonly DeviceEpochSecrets[]): void {
    const hex = (h: string, n: number): Uint8Array => {
      const b = /^[0-9a-f]*$/.test(h) && h.length === 2 * n ? fromHex(h) : null;
      if (b === null) throw new RangeError("bad epoch secrets");
      return b;
    };
    for (const d of secrets) {
      if (!/^[0-9a-f]{16}$/.test(d.deviceId)) throw new RangeError("bad epoch secrets device");
      const epochs: OpeningEpoch[] = d.epochs.map((e) => {
        if (!Number.isInteger(e.epoch) || e.epoch < 0 || e.epoch > MAX_EPOCH || (e.aeadAlg !== "A128GCM" && e.aeadAlg !== "ChaCha20/Poly1305")) throw new RangeError("bad epoch secrets epoch");
        const deviceId = hex(d.deviceId, 8);
        return {
          epoch: e.epoch,
          aeadAlg: e.aeadAlg,
          ephemeralPublicKey: hex(e.ephemeralPublicKey, e.ephemeralPublicKey.length >> 1),
          keys: { contentKey: hex(e.contentKey, aeadKeyLength(e.aeadAlg)), baseIv: hex(e.baseIv, BASE_IV_LENGTH), linkKey: hex(e.linkKey, LINK_KEY_LENGTH) },
          externalAad: frameExternalAad(deviceId, e.epoch),
        };
      });
      epochs.sort((a, b) => a.epoch - b.epoch);
      while (epochs.length > this.epochsRetained) epochs.shift();
      const state = this.devices.get(d.deviceId);
      const newest = epochs.length ? epochs[epochs.length - 1].epoch : 0;
      if (state) {
        state.epochs = epochs;
        if (newest > state.newestEpoch) state.newestEpoch = newest;
      } else this.devices.set(d.deviceId, { newestEpoch: newest, epochs, highestSeq: -1, window: BigInt(0) });
    }
  }

  /** Forgets a device's epochs and replay state (it was re-provisioned: a new identity, a new history). */
  forgetDevice(deviceId: string): void {
    this.devices.delete(deviceId);
  }

  private acceptAnnouncement(bytes: Uint8Array): OpenResult {
    const o = this.o;
    if (bytes.length > MAX_ANNOUNCEMENT_BYTES) return rejected("malformed", `announcement longer than ${MAX_ANNOUNCEMENT_BYTES} bytes`);
    const d = decodeSign1(bytes);
    if (!d.ok) return rejected("malformed", `announcement: ${d.error.message}`);
    const msg: CoseSign1 = d.value;
    if (
      !onlyKeys(msg.protectedHeaders, ALG_AND_CONTENT_TYPE) ||
      msg.protectedHeaders.size !== 2 ||
      msg.protectedHeaders.get(HEADER_CONTENT_TYPE) !== CONTENT_TYPE_ANNOUNCEMENT ||
      !onlyKeys(msg.unprotectedHeaders, KID_ONLY)
    ) {
      return rejected("malformed", `announcement headers must be protected {alg, content type ${CONTENT_TYPE_ANNOUNCEMENT}} and unprotected {kid}`);
    }
    const kid = msg.unprotectedHeaders.get(HEADER_KID);
    if (!(kid instanceof Uint8Array) || kid.length !== DEVICE_ID_LENGTH) return rejected("malformed", "announcement kid is not an 8-byte device id");
    const alg = signatureAlgFromId(msg.alg);
    if (alg === null) return rejected("malformed", `unsupported signature algorithm ${String(msg.alg)}`);
    const device = o.lookupDevice(kid);
    if (device === null) return rejected("unknown-device", `device ${toHex(kid)} is not registered`);
    if (alg !== device.signatureAlg) return rejected("bad-signature", `device ${toHex(kid)} signs with ${device.signatureAlg}, not ${alg}`);
    const v = verifySign1(o.crypto, msg, device.identityPublicKey, new Uint8Array(0), device.signatureAlg);
    if (!v.ok) {
      for (const old of device.retiredKeys ?? []) {
        if (verifySign1(o.crypto, msg, old, new Uint8Array(0), device.signatureAlg).ok) {
          return rejected("unknown-key", `device ${toHex(kid)} signed with a retired identity key (it was re-keyed)`);
        }
      }
      return rejected("bad-signature", `announcement: ${v.error.message}`);
    }

    const p = decodeCbor(msg.payload, { maxDepth: 1 });
    if (!p.ok) return rejected("malformed", `announcement payload: ${describeCborError(p.error)}`);
    const m = p.value;
    if (!(m instanceof Map) || m.size !== 7 || !onlyKeys(m, ANNOUNCEMENT_KEYS)) return rejected("malformed", "announcement payload is not the 7-entry map");
    if (m.get(ANN_KEY_TYPE) !== ANNOUNCEMENT_EPOCH_OPEN) return rejected("malformed", `announcement type ${String(m.get(ANN_KEY_TYPE))} unknown`);
    const deviceId = m.get(ANN_KEY_DEVICE);
    const epoch = m.get(ANN_KEY_EPOCH);
    const eph = m.get(ANN_KEY_EPHEMERAL_KEY);
    const gwKid = m.get(ANN_KEY_GATEWAY_KEY_ID);
    const ka = agreementAlgFromCurveId(m.get(ANN_KEY_AGREEMENT));
    const aead = aeadAlgFromId(m.get(ANN_KEY_AEAD));
    if (!(deviceId instanceof Uint8Array) || !bytesEqual(deviceId, kid)) return rejected("inconsistent", "announcement device differs from its kid");
    if (typeof epoch !== "number" || epoch < 0 || epoch > MAX_EPOCH) return rejected("malformed", "announcement epoch is not a uint32");
    if (!(gwKid instanceof Uint8Array) || gwKid.length < 1 || gwKid.length > MAX_GATEWAY_KEY_ID_LENGTH) return rejected("malformed", "gateway key id is not 1..32 bytes");
    if (ka === null || ka !== o.agreementAlg) return rejected("malformed", `key agreement ${String(m.get(ANN_KEY_AGREEMENT))} is not the gateway's ${o.agreementAlg}`);
    if (aead === null) return rejected("malformed", `content encryption algorithm ${String(m.get(ANN_KEY_AEAD))} not supported`);
    if (!(eph instanceof Uint8Array) || !validAgreementPublicKey(ka, eph)) return rejected("malformed", `ephemeral key is not a ${ka} public key`);
    if (o.gatewayKeyId !== undefined && !bytesEqual(o.gatewayKeyId, gwKid)) {
      return rejected("unknown-epoch", `epoch ${epoch} is keyed to gateway key ${toHex(gwKid)}, not this gateway's`);
    }

    const id = toHex(kid);
    const state = this.devices.get(id);
    if (state !== undefined) {
      const known = state.epochs.find((e) => e.epoch === epoch);
      if (known !== undefined) {
        if (bytesEqual(known.ephemeralPublicKey, eph) && known.aeadAlg === aead) return { kind: "epoch", deviceId: kid, epoch, repeated: true };
        return rejected("inconsistent", `epoch ${epoch} was already opened with another ephemeral key`);
      }
      // An older epoch not seen yet (the device's queue still holds its frames: a gateway that
      // started late, or learnt the open epoch first) is opened too, within the retained window.
      if (epoch + this.epochsRetained <= state.newestEpoch) return rejected("stale-epoch", `epoch ${epoch} is older than the ${this.epochsRetained} epochs kept before epoch ${state.newestEpoch}`);
    }

    const shared = o.crypto.agree(ka, o.gatewayPrivateKey, eph);
    if (shared === null) return rejected("malformed", "ephemeral key is not a valid point");
    const keys = deriveEpochKeys(o.crypto, {
      sharedSecret: shared,
      deviceId: kid,
      identityPublicKey: device.identityPublicKey,
      epoch,
      aeadAlg: aead,
      agreementAlg: ka,
      signatureAlg: alg,
      ephemeralPublicKey: eph,
      gatewayKeyId: gwKid,
    });
    const entry: OpeningEpoch = { epoch, aeadAlg: aead, ephemeralPublicKey: eph, keys, externalAad: frameExternalAad(kid, epoch) };
    const s: DeviceState = state ?? { newestEpoch: epoch, epochs: [], highestSeq: -1, window: BigInt(0) };
    if (epoch > s.newestEpoch) s.newestEpoch = epoch;
    s.epochs.push(entry);
    s.epochs.sort((a, b) => a.epoch - b.epoch);
    while (s.epochs.length > this.epochsRetained) s.epochs.shift();
    this.devices.set(id, s);
    return { kind: "epoch", deviceId: kid, epoch, repeated: false };
  }

  private acceptFrame(bytes: Uint8Array): OpenResult {
    const o = this.o;
    if (bytes.length > MAX_FRAME_BYTES) return rejected("malformed", `frame longer than ${MAX_FRAME_BYTES} bytes`);
    const d = decodeEncrypt0(bytes);
    if (!d.ok) return rejected("malformed", `frame: ${d.error.message}`);
    const msg: CoseEncrypt0 = d.value;
    if (
      !onlyKeys(msg.protectedHeaders, ALG_ONLY) ||
      !msg.protectedHeaders.has(HEADER_ALG) ||
      !onlyKeys(msg.unprotectedHeaders, KID_AND_PARTIAL_IV) ||
      msg.unprotectedHeaders.size !== 2
    ) {
      return rejected("malformed", "frame headers must be protected {alg} and unprotected {kid, partial IV}");
    }
    const aead = aeadAlgFromId(msg.alg);
    if (aead === null) return rejected("malformed", `unsupported content encryption algorithm ${String(msg.alg)}`);
    const kid = msg.unprotectedHeaders.get(HEADER_KID);
    const piv = msg.unprotectedHeaders.get(HEADER_PARTIAL_IV);
    if (!(kid instanceof Uint8Array) || kid.length !== DEVICE_ID_LENGTH + 4) return rejected("malformed", "frame kid is not deviceId || epoch (12 bytes)");
    const seq = piv instanceof Uint8Array ? decodePartialIv(piv) : null;
    if (seq === null || !(piv instanceof Uint8Array)) return rejected("malformed", "partial IV is not a minimal 1..5-byte counter");
    const deviceId = kid.slice(0, DEVICE_ID_LENGTH);
    const epoch = ((kid[8] << 24) >>> 0) + ((kid[9] << 16) | (kid[10] << 8) | kid[11]);
    const id = toHex(deviceId);

    const device = o.lookupDevice(deviceId, id);
    if (device === null) return rejected("unknown-device", `device ${id} is not registered`);
    const state = this.devices.get(id);
    const ep = state?.epochs.find((e) => e.epoch === epoch);
    if (state === undefined || ep === undefined) {
      if (state !== undefined && (epoch + this.epochsRetained <= state.newestEpoch || (state.epochs.length >= this.epochsRetained && epoch < state.epochs[0].epoch))) {
        return rejected("stale-epoch", `epoch ${epoch} of device ${id} is no longer open (newest ${state.newestEpoch})`);
      }
      return rejected("unknown-epoch", `no announcement for epoch ${epoch} of device ${id}`);
    }
    if (aead !== ep.aeadAlg) return rejected("inconsistent", `frame uses ${aead}, epoch ${epoch} announced ${ep.aeadAlg}`);

    const replay = this.checkWindow(state, seq);
    if (replay !== null) return replay;

    // The Enc_structure is the same for every frame of the epoch with the same protected header.
    const pfs = protectedForStructure(msg);
    let enc = ep.encAad;
    if (enc === undefined || !bytesEqual(enc.protectedBytes, pfs)) ep.encAad = enc = { protectedBytes: pfs.slice(), aad: encStructure(pfs, ep.externalAad) };
    const opened = openEncrypt0Prepared(o.crypto, msg, ep.keys.contentKey, partialIvNonce(ep.keys.baseIv, piv), enc.aad, ep.externalAad, ep.aeadAlg);
    if (!opened.ok) return rejected("decrypt-failed", `frame ${seq} of device ${id}: ${opened.error.message}`);

    const unpadded = unpadPlaintext(opened.value);
    if (!unpadded.ok) return rejected("malformed", `frame ${seq} of device ${id}: padding: ${unpadded.message}`);
    const inner = decodeSign1(unpadded.inner);
    if (!inner.ok) return rejected("malformed", `inner COSE_Sign1: ${inner.error.message}`);
    const sig = inner.value;
    const ct = sig.protectedHeaders.get(HEADER_CONTENT_TYPE);
    if (
      !onlyKeys(sig.protectedHeaders, ALG_AND_CONTENT_TYPE) ||
      sig.protectedHeaders.size !== 2 ||
      (ct !== CONTENT_TYPE_RECORD && ct !== CONTENT_TYPE_RESULT && ct !== CONTENT_TYPE_UPDATE_STATUS) ||
      !onlyKeys(sig.unprotectedHeaders, KID_ONLY)
    ) {
      return rejected("malformed", "inner headers must be protected {alg, content type: record, result or status report} and unprotected {kid}");
    }
    const innerKid = sig.unprotectedHeaders.get(HEADER_KID);
    if (!(innerKid instanceof Uint8Array) || !bytesEqual(innerKid, deviceId)) return rejected("inconsistent", "inner kid differs from the frame's device");
    const alg = signatureAlgFromId(sig.alg);
    if (alg !== device.signatureAlg) return rejected("bad-signature", `device ${id} signs with ${device.signatureAlg}, not ${String(sig.alg)}`);
    // A record is signed over the frame's external AAD; a result or a status report over an empty
    // one (it stands on its own once decrypted; its freshness is the issuer's check, 13.1).
    const v = verifySign1(o.crypto, sig, device.identityPublicKey, ct === CONTENT_TYPE_RECORD ? ep.externalAad : new Uint8Array(0), device.signatureAlg);
    if (!v.ok) return rejected("bad-signature", `frame ${seq} of device ${id}: ${v.error.message}`);

    if (ct === CONTENT_TYPE_RESULT) {
      const res = parseResultPayload(sig.payload, deviceId);
      if (!res.ok) return rejected("malformed", `command result in frame ${seq}: ${res.detail}`);
      const { gapBefore, late } = this.commitWindow(state, seq);
      return { kind: "result", deviceId, epoch, frameSeq: seq, result: res.result, gapBefore, late };
    }
    if (ct === CONTENT_TYPE_UPDATE_STATUS) {
      const st = parseUpdateStatusPayload(sig.payload, deviceId);
      if (!st.ok) return rejected("malformed", `update status in frame ${seq}: ${st.error.message}`);
      const { gapBefore, late } = this.commitWindow(state, seq);
      return { kind: "update-status", deviceId, epoch, frameSeq: seq, status: st.status, gapBefore, late };
    }
    const r = decodeRecord(sig.payload);
    if (!r.ok) {
      if (r.error.code === "unsupported-schema") return rejected("unsupported-schema", r.error.message);
      return rejected("malformed", `record ${r.error.path}: ${r.error.message}`);
    }
    if (r.record.frameSeq !== seq) return rejected("inconsistent", `record frameSeq ${r.record.frameSeq} differs from partial IV ${seq}`);

    const { gapBefore, late } = this.commitWindow(state, seq);
    return { kind: "record", deviceId, epoch, frameSeq: seq, record: r.record, gapBefore, late };
  }

  private checkWindow(s: DeviceState, seq: number): OpenResult | null {
    if (s.highestSeq < 0 || seq > s.highestSeq) return null;
    const age = s.highestSeq - seq;
    if (age >= this.windowSize) {
      return rejected("counter-outside-window", `frame ${seq} is ${age} behind the highest accepted ${s.highestSeq} (window ${this.windowSize})`);
    }
    if ((s.window >> BigInt(age)) & BigInt(1)) return rejected("replay", `frame ${seq} was already accepted`);
    return null;
  }

  private commitWindow(s: DeviceState, seq: number): { gapBefore: number; late: boolean } {
    if (s.highestSeq < 0) {
      s.highestSeq = seq;
      s.window = BigInt(1);
      return { gapBefore: 0, late: false };
    }
    if (seq > s.highestSeq) {
      const shift = seq - s.highestSeq;
      const gapBefore = shift - 1;
      s.window = shift >= this.windowSize ? BigInt(1) : ((s.window << BigInt(shift)) | BigInt(1)) & this.windowMask;
      s.highestSeq = seq;
      return { gapBefore, late: false };
    }
    s.window |= BigInt(1) << BigInt(s.highestSeq - seq);
    return { gapBefore: 0, late: true };
  }
}
