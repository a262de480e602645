/**
 * The factory's certificate authority: one P-256 key (the factory key, which also signs
 * provisioning bundles; its public half is in every device's Preference `factory/key`) and its
 * self-signed CA certificate. It issues
 *   - device certificates: subject CN = the device id (16 hex digits), the identity public key the
 *     device generated and proved it holds, key usage digitalSignature, extended key usage
 *     clientAuth: the device's TLS client certificate at the MQTT broker (mosquitto's
 *     `use_identity_as_username` makes the CN the account name its ACL checks);
 *   - client identities for host programs (the gateway, test and fleet clients): a new P-256 key
 *     and its certificate, for node:tls.
 * It also checks a certificate against itself (chain, validity, usage), which is how the gateway
 * takes a device's identity key from the registry: from a certificate the factory CA signed.
 *
 * In development the key is `keys/factory.test-key.json` (TEST KEY) and the certificate
 * `keys/factory-ca.crt`; a production line keeps the key in an HSM (docs/provisioning.md).
 */
import { X509Certificate, createPublicKey, randomBytes, type KeyObject } from "node:crypto";
import { derToPem, issueCertificate, p256PrivateKeyObject, type CertificateProfile, type Issuer } from "./x509.js";
import { NodeCrypto } from "../crypto/node-crypto.js";

export const FACTORY_CA_NAME = { commonName: "wearable factory CA", organization: "wearable" };
/** Validity of the CA certificate and, by default, of device certificates. */
export const CA_VALID_DAYS = 20 * 365;
export const DEVICE_CERT_VALID_DAYS = 10 * 365;
const DAY_MS = 86_400_000;
/** Certificates start an hour back: clocks on the line and at the broker are not exactly equal. */
const CLOCK_SKEW_MS = 3_600_000;

export interface P256KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export interface ClientIdentity {
  commonName: string;
  certificateDer: Uint8Array;
  certificatePem: string;
  /** PKCS#8 PEM of the private key, for node:tls. */
  keyPem: string;
  publicKey: Uint8Array;
}

export interface CertifiedIdentity {
  commonName: string;
  publicKey: Uint8Array;
  alg: "ES256" | "EdDSA";
  notAfter: Date;
}

export type CertificateCheck = { ok: true; identity: CertifiedIdentity } | { ok: false; reason: string };

function publicKeyBytes(k: KeyObject): { publicKey: Uint8Array; alg: "ES256" | "EdDSA" } | null {
  const jwk = k.export({ format: "jwk" }) as { kty?: string; crv?: string; x?: string; y?: string };
  if (jwk.kty === "EC" && jwk.crv === "P-256" && jwk.x && jwk.y) {
    const out = new Uint8Array(65);
    out[0] = 4;
    out.set(Buffer.from(jwk.x, "base64url"), 1);
    out.set(Buffer.from(jwk.y, "base64url"), 33);
    return { publicKey: out, alg: "ES256" };
  }
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519" && jwk.x) return { publicKey: new Uint8Array(Buffer.from(jwk.x, "base64url")), alg: "EdDSA" };
  return null;
}

function commonNameOf(subject: string): string | null {
  for (const line of subject.split("\n")) if (line.startsWith("CN=")) return line.slice(3);
  return null;
}

export class FactoryCa {
  readonly certificateDer: Uint8Array;
  readonly certificatePem: string;
  private readonly issuer: Issuer;
  private readonly x509: X509Certificate;

  /** `certificateDer`: the CA certificate made earlier for this key; absent: a new self-signed one. */
  constructor(
    readonly key: P256KeyPair,
    certificateDer?: Uint8Array,
    now = new Date(),
  ) {
    this.issuer = { name: FACTORY_CA_NAME, privateKey: key.privateKey, publicKey: key.publicKey };
    this.certificateDer =
      certificateDer ??
      issueCertificate(
        {
          subject: FACTORY_CA_NAME,
          subjectPublicKey: key.publicKey,
          notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
          notAfter: new Date(now.getTime() + CA_VALID_DAYS * DAY_MS),
          profile: { kind: "ca" },
          serial: new Uint8Array(randomBytes(16)),
        },
        this.issuer,
      );
    this.certificatePem = derToPem(this.certificateDer);
    this.x509 = new X509Certificate(Buffer.from(this.certificateDer));
    const own = publicKeyBytes(this.x509.publicKey);
    if (!own || Buffer.compare(Buffer.from(own.publicKey), Buffer.from(key.publicKey)) !== 0) throw new Error("the CA certificate does not hold the factory key");
  }

  /** A certificate for `subjectPublicKey` under common name `commonName`, signed by the CA. DER. */
  issue(commonName: string, subjectPublicKey: Uint8Array, o: { profile?: CertificateProfile; now?: Date; notBefore?: Date; notAfter?: Date; validDays?: number } = {}): Uint8Array {
    const now = o.now ?? new Date();
    return issueCertificate(
      {
        subject: { commonName },
        subjectPublicKey,
        notBefore: o.notBefore ?? new Date(now.getTime() - CLOCK_SKEW_MS),
        notAfter: o.notAfter ?? new Date(now.getTime() + (o.validDays ?? DEVICE_CERT_VALID_DAYS) * DAY_MS),
        profile: o.profile ?? { kind: "client" },
        serial: new Uint8Array(randomBytes(16)),
      },
      this.issuer,
    );
  }

  /** The device certificate: CN = device id in hex, clientAuth. */
  issueDeviceCertificate(deviceIdHex: string, identityPublicKey: Uint8Array, o: { now?: Date; validDays?: number } = {}): Uint8Array {
    return this.issue(deviceIdHex.toLowerCase(), identityPublicKey, { profile: { kind: "client" }, ...o });
  }

  /** A new P-256 key and its client certificate (the gateway's, a test client's). */
  issueClientIdentity(commonName: string, o: { now?: Date; notBefore?: Date; notAfter?: Date; validDays?: number } = {}): ClientIdentity {
    const kp = new NodeCrypto().signatureKeyPair("ES256");
    const certificateDer = this.issue(commonName, kp.publicKey, { profile: { kind: "client" }, ...o });
    const keyPem = p256PrivateKeyObject(kp.privateKey, kp.publicKey).export({ type: "pkcs8", format: "pem" }).toString();
    kp.privateKey.fill(0);
    return { commonName, certificateDer, certificatePem: derToPem(certificateDer), keyPem, publicKey: kp.publicKey };
  }

  /**
   * Checks a certificate against this CA: signed by it, issued by its name, valid at `now`, a
   * client certificate (clientAuth), not a CA. Returns the identity it certifies.
   */
  check(certificateDer: Uint8Array, now = new Date()): CertificateCheck {
    let c: X509Certificate;
    try {
      c = new X509Certificate(Buffer.from(certificateDer));
    } catch (e) {
      return { ok: false, reason: `not an X.509 certificate (${e instanceof Error ? e.message : String(e)})` };
    }
    if (!c.checkIssued(this.x509) || !c.verify(this.x509.publicKey)) return { ok: false, reason: "not signed by the factory CA" };
    const from = Date.parse(c.validFrom);
    const to = Date.parse(c.validTo);
    if (!(from <= now.getTime() && now.getTime() <= to)) return { ok: false, reason: `not valid at ${now.toISOString()} (valid ${c.validFrom} to ${c.validTo})` };
    if (c.ca) return { ok: false, reason: "a CA certificate, not a device's" };
    if (!(c.keyUsage ?? []).includes("1.3.6.1.5.5.7.3.2")) return { ok: false, reason: "no clientAuth extended key usage" };
    const cn = commonNameOf(c.subject);
    if (!cn) return { ok: false, reason: "no common name" };
    const key = publicKeyBytes(c.publicKey);
    if (!key) return { ok: false, reason: "the certified key is neither P-256 nor Ed25519" };
    return { ok: true, identity: { commonName: cn, publicKey: key.publicKey, alg: key.alg, notAfter: new Date(to) } };
  }

  /** The CA's public key as node:crypto wants it. */
  get publicKeyObject(): KeyObject {
    return createPublicKey(this.x509.publicKey.export({ format: "pem", type: "spki" }));
  }
}
