/**
 * Update manifests (SUIT-style, RFC 9019/9124 in spirit, simplified) and update status reports.
 *
 * A manifest is a COSE_Sign1 (tag 18, ES256 or EdDSA) signed with the release key; its protected
 * header carries `kid` = the first 8 bytes of SHA-256 of the release public key, and its payload
 * is a deterministic CBOR map with integer keys (docs/update.md has the byte-level layout):
 *
 *   1 manifest format (1)        2 sequence number (uint, monotonic)
 *   3 vendor id (bstr 16)        4 device-class id (bstr 16)
 *   5 version (tstr)             6 image size (uint)
 *   7 image digest [-16, bstr 32] (COSE alg -16 = SHA-256)
 *   8 minimum battery percent (uint 0..100, optional)
 *   9 image name (tstr, optional, where a server keeps the image next to the manifest)
 *
 * The signature is checked before anything in the payload is looked at. Decoding never throws:
 * every failure is a typed `ManifestError`.
 *
 * The manifest's protected header carries content type 65008 (protocol/content-types.ts) next to
 * `alg` and `kid`; a manifest without it is "malformed".
 *
 * An update status report is a COSE_Sign1 signed with the device's identity key whose protected
 * header carries content type 65007 and whose unprotected header names the device (kid); see
 * `encodeUpdateStatus`. It never travels in clear: the device seals it into a data frame under the
 * open epoch's key (protocol/frame.ts `FrameSealer.sealSigned`), like a command result.
 */
import type { Crypto, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import { CborWriter, decodeCbor, describeCborError, type CborValue } from "./cbor.js";
import { bytesEqual, clipUtf8, utf8Length } from "./bytes.js";
import { HEADER_ALG, HEADER_CONTENT_TYPE, HEADER_KID, createSign1, decodeSign1, signatureAlgFromId, verifySign1 } from "./cose.js";
import { CONTENT_TYPE_MANIFEST, CONTENT_TYPE_UPDATE_STATUS } from "./content-types.js";

export const MANIFEST_FORMAT = 1;
/** Keys of the manifest payload map. */
export const MANIFEST_KEY = { format: 1, sequence: 2, vendor: 3, class: 4, version: 5, size: 6, digest: 7, minBattery: 8, imageName: 9 } as const;
/** COSE algorithm id of SHA-256 (RFC 9054). */
export const COSE_ALG_SHA256 = -16;
export const ID_LENGTH = 16;
export const KID_LENGTH = 8;
export const MAX_MANIFEST_BYTES = 1024;
export const MAX_VERSION_BYTES = 32;
export const MAX_IMAGE_NAME_BYTES = 64;
export const MAX_SEQUENCE = 0xffffffff;
export const MAX_IMAGE_SIZE = 0x7fffffff;

export interface UpdateManifest {
  sequence: number;
  vendorId: Uint8Array;
  classId: Uint8Array;
  version: string;
  imageSize: number;
  imageDigest: Uint8Array;
  /** Battery level (percent) below which the device must not start the update; 0 = no condition. */
  minBatteryPercent: number;
  imageName: string | null;
}

export type ManifestErrorCode = "malformed" | "unknown-key" | "bad-signature" | "unsupported-alg" | "bad-field";

export interface ManifestError {
  code: ManifestErrorCode;
  message: string;
}

export type ManifestResult = { ok: true; manifest: UpdateManifest; kid: Uint8Array } | { ok: false; error: ManifestError };

function fail(code: ManifestErrorCode, message: string): ManifestResult {
  return { ok: false, error: { code, message } };
}

/** The key id of a public key: the first 8 bytes of its SHA-256. */
export function releaseKeyId(crypto: Crypto, publicKey: Uint8Array): Uint8Array {
  return crypto.sha256(publicKey).slice(0, KID_LENGTH);
}

/** Deterministic CBOR of the manifest payload. Throws RangeError on out-of-range fields (signing side). */
export function encodeManifestPayload(m: UpdateManifest): Uint8Array {
  if (!Number.isInteger(m.sequence) || m.sequence < 0 || m.sequence > MAX_SEQUENCE) throw new RangeError(`sequence ${m.sequence} outside 0..${MAX_SEQUENCE}`);
  if (m.vendorId.length !== ID_LENGTH || m.classId.length !== ID_LENGTH) throw new RangeError(`vendor and class ids are ${ID_LENGTH} bytes`);
  if (!m.version || utf8Length(m.version) > MAX_VERSION_BYTES) throw new RangeError(`version must be 1..${MAX_VERSION_BYTES} bytes`);
  if (!Number.isInteger(m.imageSize) || m.imageSize < 1 || m.imageSize > MAX_IMAGE_SIZE) throw new RangeError(`image size ${m.imageSize} out of range`);
  if (m.imageDigest.length !== 32) throw new RangeError("image digest must be 32 bytes (SHA-256)");
  if (!Number.isInteger(m.minBatteryPercent) || m.minBatteryPercent < 0 || m.minBatteryPercent > 100) throw new RangeError("minimum battery must be 0..100");
  if (m.imageName !== null && (!m.imageName || utf8Length(m.imageName) > MAX_IMAGE_NAME_BYTES)) throw new RangeError(`image name must be 1..${MAX_IMAGE_NAME_BYTES} bytes`);
  const count = 7 + (m.minBatteryPercent > 0 ? 1 : 0) + (m.imageName !== null ? 1 : 0);
  const w = new CborWriter(160);
  w.mapHeader(count);
  w.int(MANIFEST_KEY.format).int(MANIFEST_FORMAT);
  w.int(MANIFEST_KEY.sequence).int(m.sequence);
  w.int(MANIFEST_KEY.vendor).bytes(m.vendorId);
  w.int(MANIFEST_KEY.class).bytes(m.classId);
  w.int(MANIFEST_KEY.version).text(m.version);
  w.int(MANIFEST_KEY.size).int(m.imageSize);
  w.int(MANIFEST_KEY.digest).arrayHeader(2).int(COSE_ALG_SHA256).bytes(m.imageDigest);
  if (m.minBatteryPercent > 0) w.int(MANIFEST_KEY.minBattery).int(m.minBatteryPercent);
  if (m.imageName !== null) w.int(MANIFEST_KEY.imageName).text(m.imageName);
  return w.toBytes();
}

export interface SignManifestOptions {
  crypto: Crypto;
  alg: SignatureAlgorithm;
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  manifest: UpdateManifest;
}

/** A signed manifest (COSE_Sign1, tagged). */
export function signManifest(o: SignManifestOptions): Uint8Array {
  const payload = encodeManifestPayload(o.manifest);
  return createSign1({
    crypto: o.crypto,
    alg: o.alg,
    privateKey: o.privateKey,
    payload,
    protectedHeaders: new Map<number, CborValue>([
      [HEADER_CONTENT_TYPE, CONTENT_TYPE_MANIFEST],
      [HEADER_KID, releaseKeyId(o.crypto, o.publicKey)],
    ]),
  });
}

function isUint(v: CborValue | undefined, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
}

/** Decodes a manifest payload (after its signature has been checked). Never throws. */
export function decodeManifestPayload(payload: Uint8Array): ManifestResult {
  const d = decodeCbor(payload, { maxDepth: 3 });
  if (!d.ok) return fail("malformed", `payload: ${describeCborError(d.error)}`);
  const v = d.value;
  if (!(v instanceof Map)) return fail("malformed", "payload is not a map");
  for (const k of v.keys()) {
    if (typeof k !== "number" || k < MANIFEST_KEY.format || k > MANIFEST_KEY.imageName) return fail("bad-field", `unknown key ${String(k)}`);
  }
  if (v.get(MANIFEST_KEY.format) !== MANIFEST_FORMAT) return fail("bad-field", `manifest format ${String(v.get(MANIFEST_KEY.format))}, expected ${MANIFEST_FORMAT}`);
  const sequence = v.get(MANIFEST_KEY.sequence);
  if (!isUint(sequence, MAX_SEQUENCE)) return fail("bad-field", "sequence is not an integer 0..2^32-1");
  const vendorId = v.get(MANIFEST_KEY.vendor);
  if (!(vendorId instanceof Uint8Array) || vendorId.length !== ID_LENGTH) return fail("bad-field", `vendor id is not ${ID_LENGTH} bytes`);
  const classId = v.get(MANIFEST_KEY.class);
  if (!(classId instanceof Uint8Array) || classId.length !== ID_LENGTH) return fail("bad-field", `class id is not ${ID_LENGTH} bytes`);
  const version = v.get(MANIFEST_KEY.version);
  if (typeof version !== "string" || version.length === 0 || utf8Length(version) > MAX_VERSION_BYTES) return fail("bad-field", `version is not a text of 1..${MAX_VERSION_BYTES} bytes`);
  const imageSize = v.get(MANIFEST_KEY.size);
  if (!isUint(imageSize, MAX_IMAGE_SIZE) || imageSize < 1) return fail("bad-field", "image size is not a positive integer");
  const digest = v.get(MANIFEST_KEY.digest);
  if (!Array.isArray(digest) || digest.length !== 2 || digest[0] !== COSE_ALG_SHA256 || !(digest[1] instanceof Uint8Array) || digest[1].length !== 32) {
    return fail("bad-field", "image digest is not [-16 (SHA-256), 32 bytes]");
  }
  const battery = v.has(MANIFEST_KEY.minBattery) ? v.get(MANIFEST_KEY.minBattery) : 0;
  if (!isUint(battery, 100)) return fail("bad-field", "minimum battery is not 0..100");
  const name = v.has(MANIFEST_KEY.imageName) ? v.get(MANIFEST_KEY.imageName) : null;
  if (name !== null && (typeof name !== "string" || name.length === 0 || utf8Length(name) > MAX_IMAGE_NAME_BYTES)) return fail("bad-field", "image name is not a short text");
  return {
    ok: true,
    kid: new Uint8Array(0),
    manifest: {
      sequence,
      vendorId: vendorId.slice(),
      classId: classId.slice(),
      version,
      imageSize,
      imageDigest: (digest[1] as Uint8Array).slice(),
      minBatteryPercent: battery,
      imageName: name as string | null,
    },
  };
}

export interface TrustedReleaseKey {
  publicKey: Uint8Array;
  alg: SignatureAlgorithm;
}

/**
 * Decodes a signed manifest and checks its signature against the trusted release key BEFORE
 * looking at the payload: "unknown-key" when the kid names another key, "bad-signature" when the
 * signature does not verify. Never throws.
 */
export function verifyManifest(crypto: Crypto, bytes: Uint8Array, trusted: TrustedReleaseKey): ManifestResult {
  if (!(bytes instanceof Uint8Array)) return fail("malformed", "manifest is not bytes");
  if (bytes.length > MAX_MANIFEST_BYTES) return fail("malformed", `manifest of ${bytes.length} bytes exceeds ${MAX_MANIFEST_BYTES}`);
  const m = decodeSign1(bytes, { maxLength: MAX_MANIFEST_BYTES });
  if (!m.ok) return fail(m.error.code === "unsupported-alg" ? "unsupported-alg" : "malformed", `COSE_Sign1: ${m.error.message}`);
  const msg = m.value;
  const alg = signatureAlgFromId(msg.alg);
  if (alg === null) return fail("unsupported-alg", `signature algorithm ${String(msg.alg)} not supported`);
  if (msg.protectedHeaders.get(HEADER_CONTENT_TYPE) !== CONTENT_TYPE_MANIFEST) return fail("malformed", `content type ${String(msg.protectedHeaders.get(HEADER_CONTENT_TYPE))} is not an update manifest (${CONTENT_TYPE_MANIFEST})`);
  const kid = msg.protectedHeaders.get(HEADER_KID);
  if (!(kid instanceof Uint8Array)) return fail("unknown-key", "manifest names no release key (kid missing from the protected header)");
  const expectedKid = releaseKeyId(crypto, trusted.publicKey);
  if (!bytesEqual(kid, expectedKid)) return fail("unknown-key", "manifest is signed by a key this device does not trust");
  if (alg !== trusted.alg) return fail("unsupported-alg", `manifest signed with ${alg}, the release key is ${trusted.alg}`);
  const v = verifySign1(crypto, msg, trusted.publicKey, new Uint8Array(0), trusted.alg);
  if (!v.ok) return fail("bad-signature", "manifest signature does not verify with the release key");
  const p = decodeManifestPayload(msg.payload);
  if (!p.ok) return p;
  return { ok: true, manifest: p.manifest, kid: kid.slice() };
}

/** Decodes a signed manifest WITHOUT checking its signature (host tools: show what a file says). */
export function inspectManifest(bytes: Uint8Array): ManifestResult {
  const m = decodeSign1(bytes, { maxLength: MAX_MANIFEST_BYTES });
  if (!m.ok) return fail("malformed", `COSE_Sign1: ${m.error.message}`);
  const kid = m.value.protectedHeaders.get(HEADER_KID);
  const p = decodeManifestPayload(m.value.payload);
  if (!p.ok) return p;
  return { ok: true, manifest: p.manifest, kid: kid instanceof Uint8Array ? kid.slice() : new Uint8Array(0) };
}

// ---------------------------------------------------------------------------------------------
// Update status reports (device -> gateway)

/** The status report's content type (protocol/content-types.ts). */
export const UPDATE_STATUS_CONTENT_TYPE = CONTENT_TYPE_UPDATE_STATUS;
/** Keys of the status report payload map. */
export const STATUS_KEY = { device: 1, outcome: 2, reason: 3, version: 4, sequence: 5, offset: 6, detail: 7, running: 8 } as const;
export const MAX_STATUS_BYTES = 512;
export const MAX_DETAIL_BYTES = 160;

/** What happened to an update; see docs/update.md. */
export type UpdateOutcome = "accepted" | "rejected" | "failed" | "pending-reboot" | "confirmed" | "rolled-back";
export const UPDATE_OUTCOMES: readonly UpdateOutcome[] = ["accepted", "rejected", "failed", "pending-reboot", "confirmed", "rolled-back"];

export interface UpdateStatus {
  deviceId: Uint8Array;
  outcome: UpdateOutcome;
  /** Machine-readable reason ("" when none): bad-signature, stale-sequence, digest-mismatch, ... */
  reason: string;
  /** Version and sequence the status is about (the offered image, or the running one). */
  version: string;
  sequence: number;
  /** Bytes of the image received so far (resume point). */
  offset: number;
  detail: string;
  /** Version of the image that is running. */
  running: string;
}

export function encodeUpdateStatusPayload(s: UpdateStatus): Uint8Array {
  const w = new CborWriter(256);
  w.mapHeader(8);
  w.int(STATUS_KEY.device).bytes(s.deviceId);
  w.int(STATUS_KEY.outcome).text(s.outcome);
  w.int(STATUS_KEY.reason).text(clipUtf8(s.reason, 32));
  w.int(STATUS_KEY.version).text(clipUtf8(s.version, MAX_VERSION_BYTES));
  w.int(STATUS_KEY.sequence).int(Math.min(Math.max(0, Math.floor(s.sequence)), MAX_SEQUENCE));
  w.int(STATUS_KEY.offset).int(Math.min(Math.max(0, Math.floor(s.offset)), MAX_IMAGE_SIZE));
  w.int(STATUS_KEY.detail).text(clipUtf8(s.detail, MAX_DETAIL_BYTES));
  w.int(STATUS_KEY.running).text(clipUtf8(s.running, MAX_VERSION_BYTES));
  return w.toBytes();
}

/**
 * A signed status report: COSE_Sign1 with the device identity key, protected {1: alg, 3: 65007},
 * unprotected {4: device id}, external AAD empty. The device seals it into a data frame.
 */
export function encodeUpdateStatus(crypto: Crypto, alg: SignatureAlgorithm, privateKey: Uint8Array, s: UpdateStatus): Uint8Array {
  return createSign1({
    crypto,
    alg,
    privateKey,
    payload: encodeUpdateStatusPayload(s),
    protectedHeaders: new Map<number, CborValue>([[HEADER_CONTENT_TYPE, UPDATE_STATUS_CONTENT_TYPE]]),
    unprotectedHeaders: new Map<number, CborValue>([[HEADER_KID, s.deviceId]]),
  });
}

export type UpdateStatusErrorCode = "not-status" | "malformed" | "bad-signature" | "unknown-device";
export type UpdateStatusResult = { ok: true; status: UpdateStatus } | { ok: false; error: { code: UpdateStatusErrorCode; message: string } };

/**
 * Verifies a status report: `lookupDevice` gives the identity key of the device it names.
 * "not-status" when the bytes are not a status report at all (another kind of message).
 */
export function verifyUpdateStatus(
  crypto: Crypto,
  bytes: Uint8Array,
  lookupDevice: (deviceId: Uint8Array) => { publicKey: Uint8Array; alg: SignatureAlgorithm } | null,
): UpdateStatusResult {
  const bad = (code: UpdateStatusErrorCode, message: string): UpdateStatusResult => ({ ok: false, error: { code, message } });
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_STATUS_BYTES) return bad("not-status", "not a status report");
  const m = decodeSign1(bytes, { maxLength: MAX_STATUS_BYTES });
  if (!m.ok) return bad("not-status", m.error.message);
  const p = m.value.protectedHeaders;
  if (p.get(HEADER_CONTENT_TYPE) !== UPDATE_STATUS_CONTENT_TYPE) return bad("not-status", "content type is not an update status");
  const kid = m.value.unprotectedHeaders.get(HEADER_KID);
  if (p.size !== 2 || !p.has(HEADER_ALG) || m.value.unprotectedHeaders.size !== 1 || !(kid instanceof Uint8Array)) {
    return bad("malformed", "status headers must be protected {alg, content type} and unprotected {kid}");
  }
  const parsed = parseUpdateStatusPayload(m.value.payload, kid);
  if (!parsed.ok) return parsed;
  const key = lookupDevice(kid);
  if (!key) return bad("unknown-device", "status from a device that is not registered");
  const ok = verifySign1(crypto, m.value, key.publicKey, new Uint8Array(0), key.alg);
  if (!ok.ok) return bad("bad-signature", "status signature does not verify with the device's identity key");
  return parsed;
}

/**
 * The status in a status report's payload (the 8-entry map of docs/update.md) whose device is
 * `kid`. Never throws.
 */
export function parseUpdateStatusPayload(payload: Uint8Array, kid: Uint8Array): UpdateStatusResult {
  const bad = (code: UpdateStatusErrorCode, message: string): UpdateStatusResult => ({ ok: false, error: { code, message } });
  const d = decodeCbor(payload, { maxDepth: 2 });
  if (!d.ok || !(d.value instanceof Map)) return bad("malformed", "payload is not a CBOR map");
  const v = d.value;
  const deviceId = v.get(STATUS_KEY.device);
  const outcome = v.get(STATUS_KEY.outcome);
  const reason = v.get(STATUS_KEY.reason);
  const version = v.get(STATUS_KEY.version);
  const sequence = v.get(STATUS_KEY.sequence);
  const offset = v.get(STATUS_KEY.offset);
  const detail = v.get(STATUS_KEY.detail);
  const running = v.get(STATUS_KEY.running);
  if (
    v.size !== 8 ||
    !(deviceId instanceof Uint8Array) ||
    typeof outcome !== "string" ||
    !(UPDATE_OUTCOMES as readonly string[]).includes(outcome) ||
    typeof reason !== "string" ||
    typeof version !== "string" ||
    !isUint(sequence, MAX_SEQUENCE) ||
    !isUint(offset, MAX_IMAGE_SIZE) ||
    typeof detail !== "string" ||
    typeof running !== "string"
  ) {
    return bad("malformed", "status fields are missing or of the wrong type");
  }
  if (!bytesEqual(deviceId, kid)) return bad("malformed", "status device differs from its kid");
  return { ok: true, status: { deviceId: deviceId.slice(), outcome: outcome as UpdateOutcome, reason, version, sequence, offset, detail, running } };
}
