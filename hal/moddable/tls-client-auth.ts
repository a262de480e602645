/// <reference path="../../typings/index.d.ts" />
/**
 * The device's side of mutual TLS: its certificate (the factory CA issued it at provisioning for
 * the identity key the device generated) and a signer for the handshake's CertificateVerify.
 *
 * The SDK's TLS (SDK 8.2.3, JavaScript) can send a client certificate but signs CertificateVerify
 * only with RSA; hal/moddable/tls/handshake.js adds ECDSA P-256 and calls `sign` with the SHA-256
 * digest of the handshake messages. The signature is made natively (psa-crypto.c
 * es256SignDigest: mbedTLS PSA, RFC 6979 nonces); the private key stays in this closure and in
 * Preference, as for every other signature the device makes.
 */
import { es256SignDigest } from "psa-crypto";

export interface TlsClientAuth {
  /** The device certificate, DER (sent in the TLS Certificate message). */
  certificate: ArrayBuffer;
  /** r || s (64 bytes) over a 32-byte SHA-256 digest. */
  sign(digest: ArrayBuffer): ArrayBuffer;
}

export function tlsClientAuth(certificate: Uint8Array, privateKey: Uint8Array): TlsClientAuth {
  const key = privateKey.slice();
  return {
    certificate: certificate.slice().buffer as ArrayBuffer,
    sign(digest: ArrayBuffer): ArrayBuffer {
      const signature = new Uint8Array(64);
      if (!es256SignDigest(key, digest, signature)) throw new Error("TLS client key is not a P-256 private key");
      return signature.buffer as ArrayBuffer;
    },
  };
}
