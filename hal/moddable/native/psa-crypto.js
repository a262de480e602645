/*
 * The host functions of psa-crypto.c (PSA Crypto API of mbedTLS), for hal/moddable/crypto.ts.
 * Plain JavaScript because the `@ "name"` host-function syntax is XS's own; the types are in
 * typings/psa-crypto.d.ts. Buffers may be ArrayBuffers, Uint8Arrays or DataViews.
 */

function randomFill(bytes) @ "xs_psa_random_fill";
function p256GenerateKeyPair(privateKey, publicKey) @ "xs_psa_p256_generate";
function p256KeyPairFromSeed(seed, privateKey, publicKey) @ "xs_psa_p256_from_seed";
function es256Sign(privateKey, message, signature) @ "xs_psa_es256_sign";
function es256SignDigest(privateKey, digest, signature) @ "xs_psa_es256_sign_digest";
function es256Verify(publicKey, message, signature) @ "xs_psa_es256_verify";
function p256Agree(privateKey, peerPublicKey, secret) @ "xs_psa_p256_agree";
function sha256(data) @ "xs_psa_sha256";
function hmacSha256(key, data) @ "xs_psa_hmac_sha256";
function hkdfSha256(ikm, salt, info, length) @ "xs_psa_hkdf_sha256";
function aes128GcmSeal(key, nonce, aad, plaintext) @ "xs_psa_aes128gcm_seal";
function aes128GcmOpen(key, nonce, aad, sealed) @ "xs_psa_aes128gcm_open";

export {
	randomFill,
	p256GenerateKeyPair,
	p256KeyPairFromSeed,
	es256Sign,
	es256SignDigest,
	es256Verify,
	p256Agree,
	sha256,
	hmacSha256,
	hkdfSha256,
	aes128GcmSeal,
	aes128GcmOpen,
};
