/*
 * Native cryptography of the wearable over the PSA Crypto API of mbedTLS, for the XS engine
 * (xsmc). The same source builds for the Moddable SDK's Linux simulator (Debian's
 * libmbedtls-dev, Mbed TLS 2.28, linked with -lmbedcrypto) and for the ESP32 (ESP-IDF v6.0's
 * mbedtls component, Mbed TLS 4 / TF-PSA-Crypto, where PSA is the crypto API and mbedTLS uses
 * the chip's MPI, SHA and AES accelerators and its hardware RNG).
 *
 *   ES256       deterministic ECDSA (RFC 6979) over P-256 with SHA-256, raw r||s signatures,
 *               normalised to low-S (s <= n/2); verification rejects high-S signatures
 *   P-256       key pairs, public key from a private key or a seed, ECDH (x coordinate);
 *               mbedTLS validates every peer point and every private scalar
 *   SHA-256, HMAC-SHA256, HKDF-SHA256, AES-128-GCM
 *   random      psa_generate_random (ESP32: hardware RNG; Linux: the platform entropy source)
 *
 * Keys are imported as volatile PSA keys for one call and destroyed before it returns (PSA wipes
 * its key slot). Secrets this file holds itself are in stack buffers that are wiped before
 * returning. Results are written straight into XS buffers: an output ArrayBuffer is allocated
 * before the input buffers are looked up, because an allocation may move XS buffers.
 *
 * Errors: a wrong argument type or size of a fixed-size argument (a programming error) throws
 * (TypeError or RangeError); anything that depends on data from outside (a key, a signature, a
 * peer point, a tag) gives false or null.
 */

#if defined(ESP32)
	/*
		ESP-IDF compiles its mbedtls component with these definitions; this file is compiled by
		the Moddable makefile, so it names the same configuration itself (see manifest.json here
		for the include folders).
	*/
	#ifndef MBEDTLS_CONFIG_FILE
		#define MBEDTLS_CONFIG_FILE "mbedtls/esp_config.h"
	#endif
	#ifndef TF_PSA_CRYPTO_USER_CONFIG_FILE
		#define TF_PSA_CRYPTO_USER_CONFIG_FILE "mbedtls/esp_config.h"
	#endif
#endif

#include <stdint.h>
#include <string.h>

#include "psa/crypto.h"

#include "xsmc.h"

#define P256_SCALAR_BYTES 32
#define P256_PUBLIC_BYTES 65
#define P256_SEED_BYTES 48
#define P256_SIGNATURE_BYTES 64
#define SHA256_BYTES 32
#define SHA256_BLOCK_BYTES 64
#define HKDF_MAX_BYTES (255 * SHA256_BYTES)
#define AES128_KEY_BYTES 16
#define GCM_NONCE_BYTES 12
#define GCM_TAG_BYTES 16
#define RANDOM_CHUNK_BYTES 256

#define ECC_KEY_PAIR PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1)
#define ECC_PUBLIC_KEY PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1)
#define ES256_SIGN_ALG PSA_ALG_DETERMINISTIC_ECDSA(PSA_ALG_SHA_256)
#define ES256_VERIFY_ALG PSA_ALG_ECDSA(PSA_ALG_SHA_256)

/* n - 1 of P-256, as eight 32-bit limbs, least significant first. */
static const uint32_t kP256OrderMinusOne[8] = {
	0xFC632550, 0xF3B9CAC2, 0xA7179E84, 0xBCE6FAAD,
	0xFFFFFFFF, 0xFFFFFFFF, 0x00000000, 0xFFFFFFFF
};

/* n of P-256 and floor(n / 2), big-endian: an ES256 signature is canonical when s <= n/2. */
static const uint8_t kP256Order[P256_SCALAR_BYTES] = {
	0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51
};
static const uint8_t kP256HalfOrder[P256_SCALAR_BYTES] = {
	0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	0xDE, 0x73, 0x7D, 0x56, 0xD3, 0x8B, 0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8
};

static uint8_t gPsaReady = 0;
/* A valid pointer for empty inputs (PSA takes a pointer with a zero length). */
static const uint8_t gEmpty[1] = { 0 };

static void wipe(void *data, size_t size)
{
	volatile uint8_t *p = (volatile uint8_t *)data;
	while (size--)
		*p++ = 0;
}

static void ready(xsMachine *the)
{
	if (!gPsaReady) {
		if (PSA_SUCCESS != psa_crypto_init())
			xsUnknownError("PSA crypto initialization failed");
		gPsaReady = 1;
	}
}

static void needArguments(xsMachine *the, int count)
{
	if (xsmcArgc < count)
		xsTypeError("expected %d arguments", count);
}

/* Bytes of a buffer argument (ArrayBuffer, Uint8Array or DataView); throws for anything else. */
static const uint8_t *readable(xsMachine *the, xsSlot *slot, size_t *size)
{
	void *data;
	xsUnsignedValue count;
	xsmcGetBufferReadable(*slot, &data, &count);
	*size = count;
	return count ? (const uint8_t *)data : gEmpty;
}

/* A writable buffer argument of exactly `size` bytes. */
static uint8_t *writable(xsMachine *the, xsSlot *slot, size_t size, const char *name)
{
	void *data;
	xsUnsignedValue count;
	xsmcGetBufferWritable(*slot, &data, &count);
	if (count != size)
		xsRangeError("%s must be %d bytes", name, (int)size);
	return (uint8_t *)data;
}

static psa_status_t importKey(psa_key_type_t type, size_t bits, psa_key_usage_t usage, psa_algorithm_t alg, const uint8_t *data, size_t size, mbedtls_svc_key_id_t *key)
{
	psa_key_attributes_t attributes = psa_key_attributes_init();
	psa_status_t status;
	psa_set_key_type(&attributes, type);
	psa_set_key_bits(&attributes, bits);
	psa_set_key_usage_flags(&attributes, usage);
	psa_set_key_algorithm(&attributes, alg);
	status = psa_import_key(&attributes, data, size, key);
	psa_reset_key_attributes(&attributes);
	return status;
}

/*
	The public key (65 bytes, uncompressed) of a 32-byte private scalar. PSA_ERROR_INVALID_ARGUMENT
	when the scalar is not in 1..n-1.
*/
static psa_status_t publicKeyOf(const uint8_t *privateKey, uint8_t *publicKey)
{
	mbedtls_svc_key_id_t key = MBEDTLS_SVC_KEY_ID_INIT;
	size_t length = 0;
	psa_status_t status = importKey(ECC_KEY_PAIR, 256, 0, PSA_ALG_NONE, privateKey, P256_SCALAR_BYTES, &key);
	if (PSA_SUCCESS != status)
		return status;
	status = psa_export_public_key(key, publicKey, P256_PUBLIC_BYTES, &length);
	psa_destroy_key(key);
	if ((PSA_SUCCESS == status) && (P256_PUBLIC_BYTES != length))
		status = PSA_ERROR_GENERIC_ERROR;
	return status;
}

/*
	seed mod (n - 1) + 1 as a 32-byte big-endian scalar, the mapping of noble's mapHashToField
	(FIPS 186-5 A.2.1 with (n - 1)). Shift-and-subtract over the seed's bits with a masked
	subtraction: the time depends on the seed's length only.
*/
static void scalarFromSeed(const uint8_t *seed, size_t size, uint8_t *scalar)
{
	uint32_t r[9] = { 0 }, t[9];
	size_t i;
	int bit, j;
	for (i = 0; i < size; i++) {
		for (bit = 7; bit >= 0; bit--) {
			uint32_t in = (seed[i] >> bit) & 1, borrow = 0, mask;
			for (j = 8; j > 0; j--)
				r[j] = (r[j] << 1) | (r[j - 1] >> 31);
			r[0] = (r[0] << 1) | in;
			for (j = 0; j < 9; j++) {
				uint64_t d = (uint64_t)r[j] - (j < 8 ? kP256OrderMinusOne[j] : 0) - borrow;
				t[j] = (uint32_t)d;
				borrow = (uint32_t)(d >> 63);
			}
			mask = borrow - 1;		/* all ones when r >= n - 1 */
			for (j = 0; j < 9; j++)
				r[j] = (t[j] & mask) | (r[j] & ~mask);
		}
	}
	{
		uint64_t carry = 1;
		for (j = 0; j < 8; j++) {
			carry += r[j];
			r[j] = (uint32_t)carry;
			carry >>= 32;
		}
	}
	for (j = 0; j < 8; j++) {
		uint32_t limb = r[7 - j];
		scalar[4 * j] = (uint8_t)(limb >> 24);
		scalar[4 * j + 1] = (uint8_t)(limb >> 16);
		scalar[4 * j + 2] = (uint8_t)(limb >> 8);
		scalar[4 * j + 3] = (uint8_t)limb;
	}
	wipe(r, sizeof(r));
	wipe(t, sizeof(t));
}

/* randomFill(bytes): fills a writable buffer with random bytes. */
void xs_psa_random_fill(xsMachine *the)
{
	void *data;
	xsUnsignedValue count;
	size_t offset = 0;
	needArguments(the, 1);
	ready(the);
	xsmcGetBufferWritable(xsArg(0), &data, &count);
	while (offset < count) {
		size_t chunk = count - offset;
		if (chunk > RANDOM_CHUNK_BYTES)
			chunk = RANDOM_CHUNK_BYTES;
		if (PSA_SUCCESS != psa_generate_random((uint8_t *)data + offset, chunk)) {
			wipe(data, count);
			xsUnknownError("random generator failed");
		}
		offset += chunk;
	}
}

/* p256GenerateKeyPair(privateKey 32, publicKey 65): a new random key pair. */
void xs_psa_p256_generate(xsMachine *the)
{
	psa_key_attributes_t attributes = psa_key_attributes_init();
	mbedtls_svc_key_id_t key = MBEDTLS_SVC_KEY_ID_INIT;
	uint8_t *privateKey, *publicKey;
	size_t privateLength = 0, publicLength = 0;
	psa_status_t status;
	needArguments(the, 2);
	ready(the);
	privateKey = writable(the, &xsArg(0), P256_SCALAR_BYTES, "private key");
	publicKey = writable(the, &xsArg(1), P256_PUBLIC_BYTES, "public key");
	psa_set_key_type(&attributes, ECC_KEY_PAIR);
	psa_set_key_bits(&attributes, 256);
	psa_set_key_usage_flags(&attributes, PSA_KEY_USAGE_EXPORT);
	status = psa_generate_key(&attributes, &key);
	psa_reset_key_attributes(&attributes);
	if (PSA_SUCCESS == status) {
		status = psa_export_key(key, privateKey, P256_SCALAR_BYTES, &privateLength);
		if (PSA_SUCCESS == status)
			status = psa_export_public_key(key, publicKey, P256_PUBLIC_BYTES, &publicLength);
		psa_destroy_key(key);
	}
	if ((PSA_SUCCESS != status) || (P256_SCALAR_BYTES != privateLength) || (P256_PUBLIC_BYTES != publicLength)) {
		wipe(privateKey, P256_SCALAR_BYTES);
		xsUnknownError("P-256 key generation failed");
	}
}

/*
	p256KeyPairFromSeed(seed, privateKey 32, publicKey 65) -> boolean
	A 32-byte seed is the private scalar itself (false when it is not in 1..n-1); a seed of 48 to
	1024 bytes is mapped to a scalar (seed mod (n - 1) + 1). Other seed sizes throw.
*/
void xs_psa_p256_from_seed(xsMachine *the)
{
	const uint8_t *seed;
	uint8_t *privateKey, *publicKey;
	uint8_t scalar[P256_SCALAR_BYTES];
	size_t size;
	psa_status_t status;
	needArguments(the, 3);
	ready(the);
	privateKey = writable(the, &xsArg(1), P256_SCALAR_BYTES, "private key");
	publicKey = writable(the, &xsArg(2), P256_PUBLIC_BYTES, "public key");
	seed = readable(the, &xsArg(0), &size);
	if (P256_SCALAR_BYTES == size)
		memcpy(scalar, seed, P256_SCALAR_BYTES);
	else if ((size >= P256_SEED_BYTES) && (size <= 1024))
		scalarFromSeed(seed, size, scalar);
	else
		xsRangeError("P-256 seed must be 32 bytes or 48 to 1024 bytes");
	status = publicKeyOf(scalar, publicKey);
	if (PSA_SUCCESS == status)
		memcpy(privateKey, scalar, P256_SCALAR_BYTES);
	wipe(scalar, sizeof(scalar));
	if ((PSA_SUCCESS != status) && (PSA_ERROR_INVALID_ARGUMENT != status))
		xsUnknownError("P-256 public key derivation failed (PSA status %d)", (int)status);
	xsmcSetBoolean(xsResult, PSA_SUCCESS == status);
}

/* 1 when the 32-byte big-endian s is above n/2 (s is public: no need for constant time). */
static int highS(const uint8_t *s)
{
	int i;
	for (i = 0; i < P256_SCALAR_BYTES; i++) {
		if (s[i] != kP256HalfOrder[i])
			return s[i] > kP256HalfOrder[i];
	}
	return 0;
}

/* s = n - s, big-endian byte-wise subtraction (0 < s < n, so no borrow is left over). */
static void negateS(uint8_t *s)
{
	int i, borrow = 0;
	for (i = P256_SCALAR_BYTES - 1; i >= 0; i--) {
		int d = (int)kP256Order[i] - (int)s[i] - borrow;
		borrow = d < 0;
		s[i] = (uint8_t)(d + (borrow ? 256 : 0));
	}
}

/*
	Signs `input` (a message, or with `isDigest` a SHA-256 digest) with an ES256 private key into
	`signature` (r || s, 64 bytes). Returns 0 when the private key is not in 1..n-1, 1 when signed;
	throws on any other PSA failure, with the signature wiped. With `lowS`, s > n/2 is replaced by
	n - s (docs/protocol.md section 1).
*/
static int es256SignInto(xsMachine *the, const uint8_t *privateKey, size_t privateSize, const uint8_t *input, size_t inputSize, int isDigest, int lowS, uint8_t *signature)
{
	mbedtls_svc_key_id_t key = MBEDTLS_SVC_KEY_ID_INIT;
	size_t length = 0;
	psa_status_t status;
	if (P256_SCALAR_BYTES != privateSize)
		xsRangeError("ES256 private key must be 32 bytes");
	status = importKey(ECC_KEY_PAIR, 256, isDigest ? PSA_KEY_USAGE_SIGN_HASH : PSA_KEY_USAGE_SIGN_MESSAGE, ES256_SIGN_ALG, privateKey, privateSize, &key);
	if (PSA_ERROR_INVALID_ARGUMENT == status)
		return 0;
	if (PSA_SUCCESS == status) {
		if (isDigest)
			status = psa_sign_hash(key, ES256_SIGN_ALG, input, inputSize, signature, P256_SIGNATURE_BYTES, &length);
		else
			status = psa_sign_message(key, ES256_SIGN_ALG, input, inputSize, signature, P256_SIGNATURE_BYTES, &length);
		psa_destroy_key(key);
		if ((PSA_SUCCESS == status) && (P256_SIGNATURE_BYTES != length))
			status = PSA_ERROR_GENERIC_ERROR;
	}
	if (PSA_SUCCESS != status) {
		wipe(signature, P256_SIGNATURE_BYTES);
		xsUnknownError("ES256 signing failed (PSA status %d)", (int)status);
	}
	if (lowS && highS(signature + P256_SCALAR_BYTES))
		negateS(signature + P256_SCALAR_BYTES);
	return 1;
}

/*
	es256Sign(privateKey 32, message, signature 64) -> boolean (false: the private key is not in 1..n-1).
	PSA gives r || s; when s > n/2 it is replaced by n - s (low-S, docs/protocol.md section 1).
*/
void xs_psa_es256_sign(xsMachine *the)
{
	const uint8_t *privateKey, *message;
	uint8_t *signature;
	size_t privateSize, messageSize;
	needArguments(the, 3);
	ready(the);
	signature = writable(the, &xsArg(2), P256_SIGNATURE_BYTES, "signature");
	privateKey = readable(the, &xsArg(0), &privateSize);
	message = readable(the, &xsArg(1), &messageSize);
	xsmcSetBoolean(xsResult, es256SignInto(the, privateKey, privateSize, message, messageSize, 0, 1, signature));
}

/*
	es256SignDigest(privateKey 32, digest 32, signature 64) -> boolean (false: the private key is not
	in 1..n-1). ECDSA P-256 over a SHA-256 digest computed elsewhere (RFC 6979 nonces): the TLS
	client's CertificateVerify, whose digest is the SDK's running hash of the handshake messages
	(hal/moddable/tls/handshake.js). Raw r || s; the caller encodes it as TLS wants (DER).
*/
void xs_psa_es256_sign_digest(xsMachine *the)
{
	const uint8_t *privateKey, *digest;
	uint8_t *signature;
	size_t privateSize, digestSize;
	needArguments(the, 3);
	ready(the);
	signature = writable(the, &xsArg(2), P256_SIGNATURE_BYTES, "signature");
	privateKey = readable(the, &xsArg(0), &privateSize);
	digest = readable(the, &xsArg(1), &digestSize);
	if (SHA256_BYTES != digestSize)
		xsRangeError("SHA-256 digest must be 32 bytes");
	xsmcSetBoolean(xsResult, es256SignInto(the, privateKey, privateSize, digest, digestSize, 1, 0, signature));
}

/* es256Verify(publicKey, message, signature) -> boolean; false for any malformed input and for a high-S signature (s > n/2). */
void xs_psa_es256_verify(xsMachine *the)
{
	mbedtls_svc_key_id_t key = MBEDTLS_SVC_KEY_ID_INIT;
	const uint8_t *publicKey, *message, *signature;
	size_t publicSize, messageSize, signatureSize;
	psa_status_t status;
	needArguments(the, 3);
	ready(the);
	publicKey = readable(the, &xsArg(0), &publicSize);
	message = readable(the, &xsArg(1), &messageSize);
	signature = readable(the, &xsArg(2), &signatureSize);
	xsmcSetBoolean(xsResult, 0);
	if ((P256_PUBLIC_BYTES != publicSize) || (0x04 != publicKey[0]) || (P256_SIGNATURE_BYTES != signatureSize))
		return;
	if (highS(signature + P256_SCALAR_BYTES))
		return;
	if (PSA_SUCCESS != importKey(ECC_PUBLIC_KEY, 256, PSA_KEY_USAGE_VERIFY_MESSAGE, ES256_VERIFY_ALG, publicKey, publicSize, &key))
		return;
	status = psa_verify_message(key, ES256_VERIFY_ALG, message, messageSize, signature, signatureSize);
	psa_destroy_key(key);
	xsmcSetBoolean(xsResult, PSA_SUCCESS == status);
}

/*
	p256Agree(privateKey 32, peerPublicKey, secret 32) -> boolean
	ECDH: the x coordinate of privateKey * peer. False (and a zeroed secret) when the peer key is
	not an uncompressed point on the curve or the private key is not in 1..n-1.
*/
void xs_psa_p256_agree(xsMachine *the)
{
	mbedtls_svc_key_id_t key = MBEDTLS_SVC_KEY_ID_INIT;
	const uint8_t *privateKey, *peer;
	uint8_t *secret;
	size_t privateSize, peerSize, length = 0;
	psa_status_t status;
	needArguments(the, 3);
	ready(the);
	secret = writable(the, &xsArg(2), P256_SCALAR_BYTES, "shared secret");
	privateKey = readable(the, &xsArg(0), &privateSize);
	peer = readable(the, &xsArg(1), &peerSize);
	xsmcSetBoolean(xsResult, 0);
	wipe(secret, P256_SCALAR_BYTES);
	if ((P256_SCALAR_BYTES != privateSize) || (P256_PUBLIC_BYTES != peerSize) || (0x04 != peer[0]))
		return;
	if (PSA_SUCCESS != importKey(ECC_KEY_PAIR, 256, PSA_KEY_USAGE_DERIVE, PSA_ALG_ECDH, privateKey, privateSize, &key))
		return;
	status = psa_raw_key_agreement(PSA_ALG_ECDH, key, peer, peerSize, secret, P256_SCALAR_BYTES, &length);
	psa_destroy_key(key);
	if ((PSA_SUCCESS != status) || (P256_SCALAR_BYTES != length)) {
		wipe(secret, P256_SCALAR_BYTES);
		return;
	}
	xsmcSetBoolean(xsResult, 1);
}

/* sha256(data) -> ArrayBuffer (32 bytes). */
void xs_psa_sha256(xsMachine *the)
{
	const uint8_t *data;
	uint8_t *digest;
	size_t size, length = 0;
	needArguments(the, 1);
	ready(the);
	digest = xsmcSetArrayBuffer(xsResult, NULL, SHA256_BYTES);
	data = readable(the, &xsArg(0), &size);
	if ((PSA_SUCCESS != psa_hash_compute(PSA_ALG_SHA_256, data, size, digest, SHA256_BYTES, &length)) || (SHA256_BYTES != length))
		xsUnknownError("SHA-256 failed");
}

/* HMAC-SHA256 of data with a key of any length (RFC 2104), into `mac` (32 bytes). */
static psa_status_t hmac(const uint8_t *keyData, size_t keySize, const uint8_t *data, size_t size, uint8_t *mac)
{
	mbedtls_svc_key_id_t key = MBEDTLS_SVC_KEY_ID_INIT;
	uint8_t hashed[SHA256_BYTES];
	size_t length = 0;
	psa_status_t status = PSA_SUCCESS;
	if (keySize > SHA256_BLOCK_BYTES) {
		/* RFC 2104: a key longer than the block is replaced by its hash. */
		status = psa_hash_compute(PSA_ALG_SHA_256, keyData, keySize, hashed, sizeof(hashed), &length);
		keyData = hashed;
		keySize = SHA256_BYTES;
	}
	else if (0 == keySize) {
		/* PSA refuses empty keys; HMAC pads the key with zeros, so one zero byte is the same key. */
		keyData = gEmpty;
		keySize = 1;
	}
	if (PSA_SUCCESS == status)
		status = importKey(PSA_KEY_TYPE_HMAC, PSA_BYTES_TO_BITS(keySize), PSA_KEY_USAGE_SIGN_MESSAGE, PSA_ALG_HMAC(PSA_ALG_SHA_256), keyData, keySize, &key);
	wipe(hashed, sizeof(hashed));
	if (PSA_SUCCESS != status)
		return status;
	status = psa_mac_compute(key, PSA_ALG_HMAC(PSA_ALG_SHA_256), data, size, mac, SHA256_BYTES, &length);
	psa_destroy_key(key);
	if ((PSA_SUCCESS == status) && (SHA256_BYTES != length))
		status = PSA_ERROR_GENERIC_ERROR;
	return status;
}

/* hmacSha256(key, data) -> ArrayBuffer (32 bytes). */
void xs_psa_hmac_sha256(xsMachine *the)
{
	const uint8_t *key, *data;
	uint8_t *mac;
	size_t keySize, size;
	needArguments(the, 2);
	ready(the);
	mac = xsmcSetArrayBuffer(xsResult, NULL, SHA256_BYTES);
	key = readable(the, &xsArg(0), &keySize);
	data = readable(the, &xsArg(1), &size);
	if (PSA_SUCCESS != hmac(key, keySize, data, size, mac)) {
		wipe(mac, SHA256_BYTES);
		xsUnknownError("HMAC-SHA256 failed");
	}
}

/*
	hkdfSha256(ikm, salt, info, length) -> ArrayBuffer (RFC 5869; an empty salt means HashLen
	zeros). `length` is 0..8160, otherwise RangeError. Built on the HMAC above so that empty
	inputs behave as the RFC says on every mbedTLS version.
*/
void xs_psa_hkdf_sha256(xsMachine *the)
{
	static const uint8_t zeros[SHA256_BYTES] = { 0 };
	const uint8_t *ikm, *salt, *info;
	uint8_t *okm;
	uint8_t prk[SHA256_BYTES], block[SHA256_BYTES];
	size_t ikmSize, saltSize, infoSize, offset = 0;
	xsIntegerValue length;
	mbedtls_svc_key_id_t key = MBEDTLS_SVC_KEY_ID_INIT;
	psa_mac_operation_t operation = psa_mac_operation_init();
	psa_status_t status;
	uint8_t counter = 0;
	needArguments(the, 4);
	ready(the);
	length = xsmcToInteger(xsArg(3));
	if ((length < 0) || (length > HKDF_MAX_BYTES))
		xsRangeError("HKDF-SHA256 output length %d outside 0..8160", (int)length);
	okm = xsmcSetArrayBuffer(xsResult, NULL, length);
	ikm = readable(the, &xsArg(0), &ikmSize);
	salt = readable(the, &xsArg(1), &saltSize);
	info = readable(the, &xsArg(2), &infoSize);
	if (0 == length)
		return;
	if (0 == saltSize) {
		salt = zeros;
		saltSize = SHA256_BYTES;
	}
	status = hmac(salt, saltSize, ikm, ikmSize, prk);
	if (PSA_SUCCESS == status)
		status = importKey(PSA_KEY_TYPE_HMAC, PSA_BYTES_TO_BITS(SHA256_BYTES), PSA_KEY_USAGE_SIGN_MESSAGE, PSA_ALG_HMAC(PSA_ALG_SHA_256), prk, SHA256_BYTES, &key);
	wipe(prk, sizeof(prk));
	while ((PSA_SUCCESS == status) && (offset < (size_t)length)) {
		size_t take = (size_t)length - offset, blockLength = 0;
		counter++;
		status = psa_mac_sign_setup(&operation, key, PSA_ALG_HMAC(PSA_ALG_SHA_256));
		if ((PSA_SUCCESS == status) && (counter > 1))
			status = psa_mac_update(&operation, block, SHA256_BYTES);
		if (PSA_SUCCESS == status)
			status = psa_mac_update(&operation, info, infoSize);
		if (PSA_SUCCESS == status)
			status = psa_mac_update(&operation, &counter, 1);
		if (PSA_SUCCESS == status)
			status = psa_mac_sign_finish(&operation, block, SHA256_BYTES, &blockLength);
		if ((PSA_SUCCESS == status) && (SHA256_BYTES != blockLength))
			status = PSA_ERROR_GENERIC_ERROR;
		if (take > SHA256_BYTES)
			take = SHA256_BYTES;
		if (PSA_SUCCESS == status)
			memcpy(okm + offset, block, take);
		offset += take;
	}
	psa_mac_abort(&operation);
	psa_destroy_key(key);
	wipe(block, sizeof(block));
	if (PSA_SUCCESS != status) {
		wipe(okm, length);
		xsUnknownError("HKDF-SHA256 failed");
	}
}

static psa_status_t importGcmKey(const uint8_t *data, mbedtls_svc_key_id_t *key)
{
	return importKey(PSA_KEY_TYPE_AES, 128, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT, PSA_ALG_GCM, data, AES128_KEY_BYTES, key);
}

/* aes128GcmSeal(key 16, nonce 12, aad, plaintext) -> ArrayBuffer: ciphertext || tag (16 bytes). */
void xs_psa_aes128gcm_seal(xsMachine *the)
{
	mbedtls_svc_key_id_t key = MBEDTLS_SVC_KEY_ID_INIT;
	const uint8_t *keyData, *nonce, *aad, *plaintext;
	uint8_t *sealed;
	size_t keySize, nonceSize, aadSize, size, length = 0;
	psa_status_t status;
	needArguments(the, 4);
	ready(the);
	readable(the, &xsArg(3), &size);
	if (size > 0x7FFFFFF0)
		xsRangeError("plaintext too long");
	sealed = xsmcSetArrayBuffer(xsResult, NULL, size + GCM_TAG_BYTES);
	keyData = readable(the, &xsArg(0), &keySize);
	nonce = readable(the, &xsArg(1), &nonceSize);
	aad = readable(the, &xsArg(2), &aadSize);
	plaintext = readable(the, &xsArg(3), &size);
	if (AES128_KEY_BYTES != keySize)
		xsRangeError("AES-128-GCM key must be 16 bytes");
	if (GCM_NONCE_BYTES != nonceSize)
		xsRangeError("AES-128-GCM nonce must be 12 bytes");
	status = importGcmKey(keyData, &key);
	if (PSA_SUCCESS == status) {
		status = psa_aead_encrypt(key, PSA_ALG_GCM, nonce, nonceSize, aad, aadSize, plaintext, size, sealed, size + GCM_TAG_BYTES, &length);
		psa_destroy_key(key);
	}
	if ((PSA_SUCCESS != status) || (size + GCM_TAG_BYTES != length)) {
		wipe(sealed, size + GCM_TAG_BYTES);
		xsUnknownError("AES-128-GCM encryption failed");
	}
}

/* aes128GcmOpen(key, nonce, aad, ciphertext || tag) -> ArrayBuffer (plaintext) or null. */
void xs_psa_aes128gcm_open(xsMachine *the)
{
	mbedtls_svc_key_id_t key = MBEDTLS_SVC_KEY_ID_INIT;
	const uint8_t *keyData, *nonce, *aad, *sealed;
	uint8_t *plaintext;
	size_t keySize, nonceSize, aadSize, size, length = 0;
	psa_status_t status;
	needArguments(the, 4);
	ready(the);
	xsmcSetNull(xsResult);
	readable(the, &xsArg(3), &size);
	if (size < GCM_TAG_BYTES)
		return;
	plaintext = xsmcSetArrayBuffer(xsResult, NULL, size - GCM_TAG_BYTES);
	keyData = readable(the, &xsArg(0), &keySize);
	nonce = readable(the, &xsArg(1), &nonceSize);
	aad = readable(the, &xsArg(2), &aadSize);
	sealed = readable(the, &xsArg(3), &size);
	if ((AES128_KEY_BYTES != keySize) || (GCM_NONCE_BYTES != nonceSize)) {
		xsmcSetNull(xsResult);
		return;
	}
	status = importGcmKey(keyData, &key);
	if (PSA_SUCCESS == status) {
		status = psa_aead_decrypt(key, PSA_ALG_GCM, nonce, nonceSize, aad, aadSize, sealed, size, size > GCM_TAG_BYTES ? plaintext : (uint8_t *)gEmpty, size - GCM_TAG_BYTES, &length);
		psa_destroy_key(key);
	}
	if ((PSA_SUCCESS != status) || (size - GCM_TAG_BYTES != length)) {
		if (size > GCM_TAG_BYTES)
			wipe(plaintext, size - GCM_TAG_BYTES);
		xsmcSetNull(xsResult);
	}
}
