/**
 * ES256 signature helpers for tests: the low-S rule (s <= n/2, docs/protocol.md section 1) and a
 * signature's "twin" (r, n - s), which plain ECDSA also accepts and this protocol must refuse.
 */

/** P-256 group order n. */
export const P256_N = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

function sOf(signature: Uint8Array): bigint {
  return BigInt("0x" + Buffer.from(signature.subarray(32, 64)).toString("hex"));
}

/** True when a 64-byte r || s has s > n/2 (s itself may be out of range). */
export function isHighS(signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  return sOf(signature) > P256_N >> BigInt(1);
}

/** The other ECDSA signature of the same message and key: r || (n - s). Needs 0 < s < n. */
export function sTwin(signature: Uint8Array): Uint8Array {
  const s = sOf(signature);
  if (signature.length !== 64 || s <= BigInt(0) || s >= P256_N) throw new RangeError("not a signature with s in 1..n-1");
  const out = new Uint8Array(64);
  out.set(signature.subarray(0, 32), 0);
  out.set(Buffer.from((P256_N - s).toString(16).padStart(64, "0"), "hex"), 32);
  return out;
}

/** The same as `isHighS`, for a hex signature (Wycheproof files). */
export function isHighSHex(signatureHex: string): boolean {
  return signatureHex.length === 128 && isHighS(new Uint8Array(Buffer.from(signatureHex, "hex")));
}
