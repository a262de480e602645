/**
 * The first step of provisioning (docs/protocol.md section 14): the factory station asks an
 * unprovisioned device for its identity public key, and the device proves it holds the private
 * half by signing the station's challenge. The device generated that key itself (first boot, or
 * the first boot after a factory reset); no private key ever crosses the link.
 *
 * Station to device (a link message on the commands characteristic, link-framed):
 *   request   = 0xA9 || {1: challenge (16..64 random bytes)}
 *
 * Device to station (a link message on the frames characteristic, link-framed, outside the
 * durable queue: it is sent once per request and never acknowledged):
 *   response  = 0xA8 || COSE_Sign1 by the identity key:
 *     protected {1: -7 / -8, 3: 65004}, unprotected {}, external AAD = the challenge,
 *     payload {1: device id (8 bytes) or null, 2: -7 / -8, 3: identity public key,
 *              4: firmware version (text)}
 *
 * The device id is the one the device was provisioned with before (it survives a factory reset:
 * re-provisioning keeps it), or null on a device never provisioned. The content type 65004 and
 * the challenge in the external AAD keep the proof from being replayed or taken for any other
 * message the identity key signs (records, announcements, command results: other content
 * types, other AADs).
 *
 * 0xA9 and 0xA8 are CBOR map headers no sealed message, command or bundle starts with; like the
 * link messages of protocol/link-messages.ts they share the write and notify paths.
 */
import type { Crypto, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import { CborWriter, decodeCbor } from "./cbor.js";
import type { CborKey, CborValue } from "./cbor.js";
import { CONTENT_TYPE_PROVISIONING_RESPONSE } from "./content-types.js";
import { HEADER_ALG, HEADER_CONTENT_TYPE, createSign1, decodeSign1, signatureAlgFromId, signatureAlgId, validPublicKey, verifySign1 } from "./cose.js";

export const PROVISIONING_REQUEST_TYPE = 0xa9;
export const PROVISIONING_RESPONSE_TYPE = 0xa8;
/** The response's content type, from the protocol's registry (protocol/content-types.ts). */
export { CONTENT_TYPE_PROVISIONING_RESPONSE };
export const CHALLENGE_MIN_BYTES = 16;
export const CHALLENGE_MAX_BYTES = 64;
const MAX_RESPONSE_BYTES = 512;
const MAX_VERSION_LENGTH = 32;

export function isProvisioningRequest(m: Uint8Array): boolean {
  return m.length > 0 && m[0] === PROVISIONING_REQUEST_TYPE;
}

export function isProvisioningResponse(m: Uint8Array): boolean {
  return m.length > 0 && m[0] === PROVISIONING_RESPONSE_TYPE;
}

export function encodeProvisioningRequest(challenge: Uint8Array): Uint8Array {
  if (challenge.length < CHALLENGE_MIN_BYTES || challenge.length > CHALLENGE_MAX_BYTES) throw new RangeError(`challenge must be ${CHALLENGE_MIN_BYTES}..${CHALLENGE_MAX_BYTES} bytes`);
  const body = new CborWriter(challenge.length + 8).value(new Map<CborKey, CborValue>([[1, challenge]])).toBytes();
  const out = new Uint8Array(body.length + 1);
  out[0] = PROVISIONING_REQUEST_TYPE;
  out.set(body, 1);
  return out;
}

/** The challenge of a request; null for anything malformed. Never throws. */
export function decodeProvisioningRequest(m: Uint8Array): Uint8Array | null {
  if (!isProvisioningRequest(m) || m.length > CHALLENGE_MAX_BYTES + 16) return null;
  const d = decodeCbor(m.subarray(1), { maxDepth: 2 });
  if (!d.ok || !(d.value instanceof Map) || d.value.size !== 1) return null;
  const c = d.value.get(1);
  if (!(c instanceof Uint8Array) || c.length < CHALLENGE_MIN_BYTES || c.length > CHALLENGE_MAX_BYTES) return null;
  return c.slice();
}

export interface IdentityProof {
  /** The device id it had before (kept across a factory reset), or null. */
  deviceId: Uint8Array | null;
  alg: SignatureAlgorithm;
  publicKey: Uint8Array;
  firmwareVersion: string;
}

/** The device's answer to a request: its identity public key and a signature over the challenge. */
export function createProvisioningResponse(crypto: Crypto, key: { alg: SignatureAlgorithm; privateKey: Uint8Array }, proof: IdentityProof, challenge: Uint8Array): Uint8Array {
  const payload = new CborWriter(160)
    .value(
      new Map<CborKey, CborValue>([
        [1, proof.deviceId === null ? null : proof.deviceId],
        [2, signatureAlgId(proof.alg)],
        [3, proof.publicKey],
        [4, proof.firmwareVersion.slice(0, MAX_VERSION_LENGTH)],
      ]),
    )
    .toBytes();
  const signed = createSign1({
    crypto,
    alg: key.alg,
    privateKey: key.privateKey,
    payload,
    externalAad: challenge,
    protectedHeaders: new Map<CborKey, CborValue>([[HEADER_CONTENT_TYPE, CONTENT_TYPE_PROVISIONING_RESPONSE]]),
  });
  const out = new Uint8Array(signed.length + 1);
  out[0] = PROVISIONING_RESPONSE_TYPE;
  out.set(signed, 1);
  return out;
}

export type ProofResult = { ok: true; proof: IdentityProof } | { ok: false; detail: string };

/**
 * The station's check of a response against the challenge it sent: well formed, and signed by
 * the key it carries (proof of possession). Never throws.
 */
export function openProvisioningResponse(crypto: Crypto, m: Uint8Array, challenge: Uint8Array): ProofResult {
  if (!isProvisioningResponse(m) || m.length > MAX_RESPONSE_BYTES) return { ok: false, detail: `not a provisioning response of at most ${MAX_RESPONSE_BYTES} bytes` };
  const d = decodeSign1(m.subarray(1), { maxLength: MAX_RESPONSE_BYTES });
  if (!d.ok) return { ok: false, detail: d.error.message };
  const msg = d.value;
  const p = msg.protectedHeaders;
  if (p.size !== 2 || !p.has(HEADER_ALG) || p.get(HEADER_CONTENT_TYPE) !== CONTENT_TYPE_PROVISIONING_RESPONSE || msg.unprotectedHeaders.size !== 0) {
    return { ok: false, detail: "headers must be protected {alg, content type 65004} and nothing unprotected" };
  }
  const pl = decodeCbor(msg.payload, { maxDepth: 2 });
  if (!pl.ok || !(pl.value instanceof Map) || pl.value.size !== 4) return { ok: false, detail: "payload is not the 4-entry map" };
  const m2 = pl.value;
  const deviceId = m2.get(1);
  const alg = signatureAlgFromId(m2.get(2));
  const publicKey = m2.get(3);
  const version = m2.get(4);
  if (deviceId !== null && !(deviceId instanceof Uint8Array && deviceId.length === 8)) return { ok: false, detail: "device id is neither null nor 8 bytes" };
  if (alg === null) return { ok: false, detail: "unsupported signature algorithm" };
  if (signatureAlgFromId(msg.alg) !== alg) return { ok: false, detail: "the proof is not signed with the key's algorithm" };
  if (!validPublicKey(alg, publicKey)) return { ok: false, detail: `identity key is not a ${alg} public key` };
  if (typeof version !== "string" || version.length > MAX_VERSION_LENGTH) return { ok: false, detail: "firmware version is not a short text" };
  if (!verifySign1(crypto, msg, publicKey, challenge, alg).ok) return { ok: false, detail: "the proof of possession does not verify (wrong challenge or key)" };
  return { ok: true, proof: { deviceId: deviceId === null ? null : deviceId.slice(), alg, publicKey: publicKey.slice(), firmwareVersion: version } };
}
