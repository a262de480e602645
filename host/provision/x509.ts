/**
 * X.509 v3 certificates for the factory's PKI, written in DER by hand (RFC 5280): node:crypto
 * parses certificates (`X509Certificate`) but cannot make them, and the few fields a device or
 * client certificate needs do not justify a dependency. Every certificate is signed with ECDSA
 * P-256 / SHA-256 (ecdsa-with-SHA256) by a P-256 issuer key; subject keys are P-256 (the device
 * identity, TLS client auth) or Ed25519 (a simulator-only identity choice).
 *
 * What is encoded:
 *   version v3, a random positive 128-bit serial number, issuer and subject names (CN, optional
 *   O), validity (UTCTime until 2049, GeneralizedTime after), the subject public key, and the
 *   extensions basicConstraints (critical), keyUsage (critical), extKeyUsage (end entities),
 *   subjectKeyIdentifier (SHA-1 of the key, RFC 5280 4.2.1.2 method 1) and authorityKeyIdentifier.
 * `host-tests/provisioning.test.ts` checks the output with node:crypto's X509Certificate and
 * with `openssl verify -purpose sslclient`.
 */
import { createHash, createPrivateKey, sign as nodeSign, type KeyObject } from "node:crypto";
import { concatBytes } from "../../protocol/bytes.js";

// ---------------------------------------------------------------------------------------------
// DER

function length(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = concatBytes(...content);
  return concatBytes(new Uint8Array([tag, ...length(body.length)]), body);
}

const sequence = (...c: Uint8Array[]) => tlv(0x30, ...c);
const set = (...c: Uint8Array[]) => tlv(0x31, ...c);
const octetString = (b: Uint8Array) => tlv(0x04, b);
const utf8String = (s: string) => tlv(0x0c, new TextEncoder().encode(s));
const explicit = (n: number, ...c: Uint8Array[]) => tlv(0xa0 | n, ...c);
const booleanTrue = () => new Uint8Array([0x01, 0x01, 0xff]);

/** A non-negative INTEGER from big-endian magnitude bytes. */
export function derInteger(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  return tlv(0x02, m[0] & 0x80 ? concatBytes(new Uint8Array([0]), m) : m);
}

function smallInteger(n: number): Uint8Array {
  return derInteger(new Uint8Array([n]));
}

export function derOid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const out: number[] = [40 * arcs[0] + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const b: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) b.unshift(0x80 | (v & 0x7f));
    out.push(...b);
  }
  return tlv(0x06, new Uint8Array(out));
}

function bitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  return tlv(0x03, new Uint8Array([unusedBits]), bytes);
}

function time(d: Date): Uint8Array {
  const iso = d.toISOString();
  const digits = iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + "Z";
  const year = d.getUTCFullYear();
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  return year < 2050 ? tlv(0x17, new TextEncoder().encode(digits.slice(2))) : tlv(0x18, new TextEncoder().encode(digits));
}

// ---------------------------------------------------------------------------------------------
// Certificates

export const OID = {
  ecPublicKey: "1.2.840.10045.2.1",
  prime256v1: "1.2.840.10045.3.1.7",
  ed25519: "1.3.101.112",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
  subjectAltName: "2.5.29.17",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const;

export interface DistinguishedName {
  commonName: string;
  organization?: string;
}

function name(n: DistinguishedName): Uint8Array {
  const rdns = [];
  if (n.organization) rdns.push(set(sequence(derOid(OID.organization), utf8String(n.organization))));
  rdns.push(set(sequence(derOid(OID.commonName), utf8String(n.commonName))));
  return sequence(...rdns);
}

/** SubjectPublicKeyInfo of a P-256 uncompressed point (65 bytes) or a raw Ed25519 key (32 bytes). */
export function subjectPublicKeyInfo(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length === 65 && publicKey[0] === 4) return sequence(sequence(derOid(OID.ecPublicKey), derOid(OID.prime256v1)), bitString(publicKey));
  if (publicKey.length === 32) return sequence(sequence(derOid(OID.ed25519)), bitString(publicKey));
  throw new RangeError("subject public key must be a P-256 uncompressed point (65 bytes) or an Ed25519 key (32 bytes)");
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's value. */
export function keyIdentifier(publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha1").update(publicKey).digest());
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? sequence(derOid(oid), booleanTrue(), octetString(value)) : sequence(derOid(oid), octetString(value));
}

/** The P-256 private scalar as a KeyObject (the public point is needed for the JWK). */
export function p256PrivateKeyObject(privateKey: Uint8Array, publicKey: Uint8Array): KeyObject {
  const b64u = (b: Uint8Array) => Buffer.from(b).toString("base64url");
  return createPrivateKey({ key: { kty: "EC", crv: "P-256", d: b64u(privateKey), x: b64u(publicKey.subarray(1, 33)), y: b64u(publicKey.subarray(33, 65)) }, format: "jwk" });
}

export interface Issuer {
  name: DistinguishedName;
  /** P-256 private scalar (32 bytes) and public point (65 bytes). */
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export type CertificateProfile =
  /** The factory CA: basicConstraints CA (path length 0), keyCertSign and cRLSign. */
  | { kind: "ca" }
  /** A TLS client / device identity: digitalSignature, extKeyUsage clientAuth. */
  | { kind: "client" }
  /** A TLS server: digitalSignature, extKeyUsage serverAuth, the given DNS names and IPv4 addresses. */
  | { kind: "server"; dns: string[]; ips: string[] };

export interface CertificateRequest {
  subject: DistinguishedName;
  subjectPublicKey: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  profile: CertificateProfile;
  /** 16 bytes; the top bit is cleared so the serial is positive. */
  serial: Uint8Array;
}

function extensions(r: CertificateRequest, issuerPublicKey: Uint8Array): Uint8Array {
  const list: Uint8Array[] = [];
  const p = r.profile;
  if (p.kind === "ca") {
    list.push(extension(OID.basicConstraints, true, sequence(booleanTrue(), smallInteger(0))));
    // keyCertSign (bit 5) and cRLSign (bit 6): 0b00000110, one unused bit.
    list.push(extension(OID.keyUsage, true, bitString(new Uint8Array([0x06]), 1)));
  } else {
    list.push(extension(OID.basicConstraints, true, sequence()));
    // digitalSignature (bit 0): 0b10000000, seven unused bits.
    list.push(extension(OID.keyUsage, true, bitString(new Uint8Array([0x80]), 7)));
    list.push(extension(OID.extKeyUsage, false, sequence(derOid(p.kind === "client" ? OID.clientAuth : OID.serverAuth))));
    if (p.kind === "server") {
      const names: Uint8Array[] = [];
      for (const d of p.dns) names.push(tlv(0x82, new TextEncoder().encode(d)));
      for (const ip of p.ips) names.push(tlv(0x87, new Uint8Array(ip.split(".").map(Number))));
      list.push(extension(OID.subjectAltName, false, sequence(...names)));
    }
  }
  list.push(extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(r.subjectPublicKey))));
  list.push(extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, keyIdentifier(issuerPublicKey)))));
  return explicit(3, sequence(...list));
}

/** The DER TBSCertificate of `r` issued by `issuer`. */
export function tbsCertificate(r: CertificateRequest, issuer: { name: DistinguishedName; publicKey: Uint8Array }): Uint8Array {
  if (r.serial.length < 1 || r.serial.length > 20) throw new RangeError("serial number must be 1..20 bytes");
  const serial = r.serial.slice();
  serial[0] &= 0x7f;
  if (serial[0] === 0) serial[0] = 1;
  return sequence(
    explicit(0, smallInteger(2)),
    derInteger(serial),
    sequence(derOid(OID.ecdsaWithSha256)),
    name(issuer.name),
    sequence(time(r.notBefore), time(r.notAfter)),
    name(r.subject),
    subjectPublicKeyInfo(r.subjectPublicKey),
    extensions(r, issuer.publicKey),
  );
}

/** Issues a certificate: TBSCertificate signed with ECDSA P-256 / SHA-256 by the issuer. DER. */
export function issueCertificate(r: CertificateRequest, issuer: Issuer): Uint8Array {
  const tbs = tbsCertificate(r, issuer);
  const signature = nodeSign("sha256", tbs, { key: p256PrivateKeyObject(issuer.privateKey, issuer.publicKey), dsaEncoding: "der" });
  return sequence(tbs, sequence(derOid(OID.ecdsaWithSha256)), bitString(new Uint8Array(signature)));
}

export function derToPem(der: Uint8Array, label = "CERTIFICATE"): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

export function pemToDer(pem: string): Uint8Array {
  const m = /-----BEGIN [A-Z ]+-----([\s\S]+?)-----END [A-Z ]+-----/.exec(pem);
  if (!m) throw new Error("not a PEM block");
  return new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ""), "base64"));
}
