/*
 * The SDK's TLS handshake ("ssl/handshake", $(MODULES)/crypt/ssl/ssl_handshake.js in SDK 8.2.3)
 * with client authentication by an ECDSA P-256 key: mutual TLS to the MQTT broker with the
 * device certificate the factory CA issued for the identity key the device generated.
 *
 * Why: in SDK 8.2.3 the client side of CertificateVerify (handshakeProtocol.certificateVerify.
 * packetize) signs only with RSA: it parses the client key with PKCS8.parse, which reads an RSA
 * key only, signs with PKCS1_5, and writes the algorithm pair (SHA-256, RSA); for any other key
 * exchange it throws "certificateVerify: unimplemented". The ECDHE_ECDSA cipher suite is
 * registered with keyExchangeAlgorithm ECDHE_RSA, so an EC client key takes that RSA path and
 * fails. Everything else a client certificate needs is there: the CertificateRequest is read,
 * the certificates in `clientCertificates` are sent, and the handshake hash is kept.
 *
 * This module is the SDK's handshake object with one member replaced: when the TLS options carry
 * `clientSign` (a function from the 32-byte SHA-256 handshake digest to a raw r || s signature;
 * the device's is hal/moddable/tls-client-auth.ts, over the native PSA signer), CertificateVerify
 * is signed with ECDSA P-256 / SHA-256 and sent as TLS 1.2 wants it (RFC 5246 7.4.8, RFC 8422
 * 5.8): SignatureAndHashAlgorithm {sha256(4), ecdsa(3)}, then the DER signature. Without
 * `clientSign` the SDK's own code runs unchanged. The private key never enters this module.
 * The manifest (hal/moddable/tls/manifest.json) maps "ssl/handshake" here and the SDK's file to
 * "ssl/handshake-sdk".
 */

import sdk from "ssl/handshake-sdk";
import SSLStream from "ssl/stream";
import TLSError from "ssl/error";

const CERTIFICATE_VERIFY = 15;
const HASH_SHA256 = 4;
const SIGNATURE_ECDSA = 3;

/* DER INTEGER of a 32-byte big-endian magnitude (leading zeros dropped, a zero added before a high bit). */
function derInteger(bytes) {
	let i = 0;
	while ((i < bytes.length - 1) && (0 === bytes[i]))
		i++;
	const pad = (bytes[i] & 0x80) ? 1 : 0;
	const out = new Uint8Array(2 + pad + bytes.length - i);
	out[0] = 0x02;
	out[1] = pad + bytes.length - i;
	out.set(bytes.subarray(i), 2 + pad);
	return out;
}

/* ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 3279) from raw r || s. */
function derSignature(raw) {
	const r = derInteger(raw.subarray(0, 32));
	const s = derInteger(raw.subarray(32, 64));
	const out = new Uint8Array(2 + r.length + s.length);
	out[0] = 0x30;
	out[1] = r.length + s.length;
	out.set(r, 2);
	out.set(s, 2 + r.length);
	return out;
}

const sdkCertificateVerify = sdk.certificateVerify;

const certificateVerify = Object.freeze({
	name: sdkCertificateVerify.name,
	msgType: sdkCertificateVerify.msgType,
	calculateDigest(session) {
		return sdkCertificateVerify.calculateDigest(session);
	},
	unpacketize(session, s) {
		return sdkCertificateVerify.unpacketize(session, s);
	},
	packetize(session, cert) {
		const sign = session.options && session.options.clientSign;
		if ("function" !== typeof sign)
			return sdkCertificateVerify.packetize(session, cert);
		session.traceProtocol(this);
		if (!session.myCert)
			throw new TLSError("certificateVerify: no cert");
		if (session.protocolVersion < 0x303)
			throw new TLSError("certificateVerify: ECDSA client authentication needs TLS 1.2");
		const digest = sdkCertificateVerify.calculateDigest(session);		// SHA-256 of the handshake messages so far
		const raw = new Uint8Array(sign(digest));
		if (64 !== raw.length)
			throw new TLSError("certificateVerify: the client signer did not return r || s");
		const der = derSignature(raw);
		const s = new SSLStream();
		s.writeChars(HASH_SHA256, 1);
		s.writeChars(SIGNATURE_ECDSA, 1);
		s.writeChars(der.length, 2);
		s.writeChunk(der.buffer);
		return sdk.packetize(session, CERTIFICATE_VERIFY, s);
	},
});

const handshakeProtocol = Object.freeze({ ...sdk, certificateVerify });

export default handshakeProtocol;
