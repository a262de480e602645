/**
 * Known-answer and behaviour tests of the portable crypto (NobleCrypto). Portable: runs on Node
 * and inside XS; kept to a handful of public-key operations.
 */
import { assert, assertEqual, assertThrows, seededRandom, suite, test } from "./harness.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { fromHex, toHex, utf8Encode } from "../../protocol/bytes.js";
import { createSign1, decodeSign1, es256IsLowS, verifySign1 } from "../../protocol/cose.js";

function hex(s: string): Uint8Array {
  const b = fromHex(s.replace(/\s+/g, ""));
  if (b === null) throw new Error(`bad hex in test: ${s}`);
  return b;
}

function seededSource(seed: number): (n: number) => Uint8Array {
  const next = seededRandom(seed);
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
    return out;
  };
}

const crypto = new NobleCrypto(seededSource(0xc0ffee));

/** P-256 group order n, big-endian. */
const P256_N = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

/** The other ECDSA signature of the same message: r || (n - s), byte-wise big-endian subtraction. */
function sTwin(sig: Uint8Array): Uint8Array {
  const out = sig.slice();
  let borrow = 0;
  for (let i = 31; i >= 0; i--) {
    const d = P256_N[i] - sig[32 + i] - borrow;
    borrow = d < 0 ? 1 : 0;
    out[32 + i] = d + 256 * borrow;
  }
  return out;
}

suite("crypto (NobleCrypto)", () => {
  suite("hashes and KDF", () => {
    test("SHA-256 of \"abc\" (FIPS 180-2)", () => {
      assertEqual(toHex(crypto.sha256(utf8Encode("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    });

    test("streaming SHA-256 equals one-shot", () => {
      const data = utf8Encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
      const s = crypto.sha256Stream();
      s.update(data.subarray(0, 7));
      s.update(data.subarray(7, 7));
      s.update(data.subarray(7));
      const digest = s.digest();
      assertEqual(toHex(digest), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
      assertEqual(digest, crypto.sha256(data));
    });

    test("HMAC-SHA256 (RFC 4231 test case 2)", () => {
      const tag = crypto.hmacSha256(utf8Encode("Jefe"), utf8Encode("what do ya want for nothing?"));
      assertEqual(toHex(tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    });

    test("HKDF-SHA256 (RFC 5869 test case 1)", () => {
      const okm = crypto.hkdfSha256(hex("0b".repeat(22)), hex("000102030405060708090a0b0c"), hex("f0f1f2f3f4f5f6f7f8f9"), 42);
      assertEqual(toHex(okm), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
    });

    test("HKDF-SHA256 rejects output longer than 255 blocks", () => {
      assertThrows(() => crypto.hkdfSha256(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), 8161));
    });
  });

  suite("AEAD", () => {
    test("AES-128-GCM (GCM spec test case 2)", () => {
      const ct = crypto.aeadSeal("A128GCM", new Uint8Array(16), new Uint8Array(12), new Uint8Array(0), new Uint8Array(16));
      assertEqual(toHex(ct), "0388dace60b6a392f328c2b971b2fe78" + "ab6e47d42cec13bdf53a67b21257bddf");
      assertEqual(crypto.aeadOpen("A128GCM", new Uint8Array(16), new Uint8Array(12), new Uint8Array(0), ct), new Uint8Array(16));
    });

    test("ChaCha20-Poly1305 (RFC 8439 2.8.2)", () => {
      const key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
      const nonce = hex("070000004041424344454647");
      const aad = hex("50515253c0c1c2c3c4c5c6c7");
      const pt = utf8Encode(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
      );
      const ct = crypto.aeadSeal("ChaCha20/Poly1305", key, nonce, aad, pt);
      assertEqual(
        toHex(ct),
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b" +
          "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc" +
          "3ff4def08e4b7a9de576d26586cec64b6116" +
          "1ae10b594f09e26a7e902ecbd0600691",
      );
      assertEqual(crypto.aeadOpen("ChaCha20/Poly1305", key, nonce, aad, ct), pt);
    });

    test("open returns null on a flipped tag, ciphertext or AAD bit, and on bad sizes", () => {
      for (const alg of ["A128GCM", "ChaCha20/Poly1305"] as const) {
        const key = crypto.randomBytes(alg === "A128GCM" ? 16 : 32);
        const nonce = crypto.randomBytes(12);
        const aad = utf8Encode("aad");
        const ct = crypto.aeadSeal(alg, key, nonce, aad, utf8Encode("attack at dawn"));
        const tagFlip = ct.slice();
        tagFlip[tagFlip.length - 1] ^= 0x01;
        assertEqual(crypto.aeadOpen(alg, key, nonce, aad, tagFlip), null, `${alg} tag flip`);
        const ctFlip = ct.slice();
        ctFlip[0] ^= 0x80;
        assertEqual(crypto.aeadOpen(alg, key, nonce, aad, ctFlip), null, `${alg} ciphertext flip`);
        assertEqual(crypto.aeadOpen(alg, key, nonce, utf8Encode("aae"), ct), null, `${alg} aad change`);
        assertEqual(crypto.aeadOpen(alg, key, nonce.subarray(0, 8), aad, ct), null, `${alg} short nonce`);
        assertEqual(crypto.aeadOpen(alg, key.subarray(1), nonce, aad, ct), null, `${alg} short key`);
        assertEqual(crypto.aeadOpen(alg, key, nonce, aad, ct.subarray(0, 15)), null, `${alg} shorter than a tag`);
        assertEqual(crypto.aeadOpen(alg, key, nonce, aad, ct), utf8Encode("attack at dawn"), `${alg} intact`);
      }
    });
  });

  suite("signatures", () => {
    test("ES256 deterministic signature (RFC 6979 A.2.5, \"sample\"; its s normalised to low-S)", () => {
      const kp = crypto.signatureKeyPair("ES256", hex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"));
      assertEqual(
        toHex(kp.publicKey),
        "04" +
          "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6" +
          "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299",
      );
      const sig = crypto.sign("ES256", kp.privateKey, utf8Encode("sample"));
      // r and the RFC's k; the RFC lists s = f7cb1c94...cda8 > n/2, so the signature carries n - s.
      assertEqual(
        toHex(sig),
        "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716" +
          "0834e36ad29a83bf2bc9385e491d6099c8fdf9d1ed67aa7ea5f51f93782857a9",
      );
      assertEqual(toHex(sTwin(sig).subarray(32)), "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8");
      assert(!crypto.verify("ES256", kp.publicKey, utf8Encode("sample"), sTwin(sig)), "the RFC's own high-S signature is refused");
      const test2 = crypto.sign("ES256", kp.privateKey, utf8Encode("test"));
      assertEqual(
        toHex(test2),
        "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367" +
          "019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083",
        "A.2.5 \"test\" (already low-S)",
      );
      assert(crypto.verify("ES256", kp.publicKey, utf8Encode("sample"), sig), "verifies");
      assert(!crypto.verify("ES256", kp.publicKey, utf8Encode("samplf"), sig), "other message");
      assert(!crypto.verify("ES256", kp.publicKey, utf8Encode("sample"), sig.subarray(0, 63)), "short signature");
    });

    test("ES256: every signature is low-S (s <= n/2) and its high-S twin (r, n - s) is refused, also by verifySign1", () => {
      const keys = [crypto.signatureKeyPair("ES256"), crypto.signatureKeyPair("ES256"), crypto.signatureKeyPair("ES256")];
      for (let i = 0; i < 36; i++) {
        const kp = keys[i % keys.length];
        const msg = utf8Encode(`message ${i} ${"x".repeat(i)}`);
        const sig = crypto.sign("ES256", kp.privateKey, msg);
        assert(es256IsLowS(sig), `signature ${i} is high-S`);
        assert(crypto.verify("ES256", kp.publicKey, msg, sig), `signature ${i} verifies`);
        const twin = sTwin(sig);
        assert(!es256IsLowS(twin), "the twin is high-S");
        assert(!crypto.verify("ES256", kp.publicKey, msg, twin), `twin of signature ${i} refused`);
      }
      // Through COSE: a COSE_Sign1 whose signature is replaced by its twin is "bad-signature".
      const kp = keys[0];
      const signed = createSign1({ crypto, alg: "ES256", privateKey: kp.privateKey, payload: utf8Encode("payload") });
      const d = decodeSign1(signed);
      assert(d.ok, "decodes");
      if (!d.ok) return;
      assert(verifySign1(crypto, d.value, kp.publicKey, new Uint8Array(0), "ES256").ok, "the original verifies");
      const twin = verifySign1(crypto, { ...d.value, signature: sTwin(d.value.signature) }, kp.publicKey, new Uint8Array(0), "ES256");
      assert(!twin.ok && twin.error.code === "bad-signature", "the twin is refused");
      // verifySign1 refuses it even when a Crypto implementation would accept high-S signatures.
      const lax = Object.assign(Object.create(crypto) as NobleCrypto, { verify: () => true });
      const laxTwin = verifySign1(lax, { ...d.value, signature: sTwin(d.value.signature) }, kp.publicKey, new Uint8Array(0), "ES256");
      assert(!laxTwin.ok && laxTwin.error.code === "bad-signature", "verifySign1 checks low-S itself");
    });

    test("Ed25519 (RFC 8032 test 1)", () => {
      const kp = crypto.signatureKeyPair("EdDSA", hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
      assertEqual(toHex(kp.publicKey), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
      const sig = crypto.sign("EdDSA", kp.privateKey, new Uint8Array(0));
      assertEqual(
        toHex(sig),
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
      );
      assert(crypto.verify("EdDSA", kp.publicKey, new Uint8Array(0), sig), "verifies");
      const bad = sig.slice();
      bad[10] ^= 4;
      assert(!crypto.verify("EdDSA", kp.publicKey, new Uint8Array(0), bad), "flipped signature");
    });

    test("random key pairs sign and verify for both algorithms", () => {
      for (const alg of ["ES256", "EdDSA"] as const) {
        const kp = crypto.signatureKeyPair(alg);
        assertEqual(kp.publicKey.length, alg === "ES256" ? 65 : 32);
        const msg = utf8Encode(`message for ${alg}`);
        const sig = crypto.sign(alg, kp.privateKey, msg);
        assertEqual(sig.length, 64);
        assert(crypto.verify(alg, kp.publicKey, msg, sig), `${alg} verifies`);
        assert(!crypto.verify(alg, kp.publicKey, utf8Encode("other"), sig), `${alg} rejects another message`);
        assert(!crypto.verify(alg === "ES256" ? "EdDSA" : "ES256", kp.publicKey, msg, sig), `${alg} key under the other algorithm`);
      }
    });
  });

  suite("key agreement", () => {
    test("X25519 (RFC 7748 6.1)", () => {
      const alicePriv = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
      const bobPub = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
      const shared = crypto.agree("X25519", alicePriv, bobPub);
      assertEqual(shared === null ? null : toHex(shared), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
      assertEqual(crypto.agree("X25519", alicePriv, new Uint8Array(32)), null, "low-order point");
    });

    test("P-256 ECDH agrees both ways and rejects invalid points", () => {
      const a = crypto.agreementKeyPair("P-256");
      const b = crypto.agreementKeyPair("P-256");
      assertEqual(a.publicKey.length, 65);
      const ab = crypto.agree("P-256", a.privateKey, b.publicKey);
      const ba = crypto.agree("P-256", b.privateKey, a.publicKey);
      assert(ab !== null && ab.length === 32, "32-byte x coordinate");
      assertEqual(ab, ba);
      const offCurve = b.publicKey.slice();
      offCurve[64] ^= 1;
      assertEqual(crypto.agree("P-256", a.privateKey, offCurve), null, "point off the curve");
      assertEqual(crypto.agree("P-256", a.privateKey, b.publicKey.subarray(0, 33)), null, "compressed/short key");
    });
  });
});
