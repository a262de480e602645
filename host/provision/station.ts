/**
 * The factory station: the host side of provisioning (docs/provisioning.md). Over the link the
 * device is provisioned on (BLE: the commands characteristic to the device, frame notifications
 * back):
 *
 *   1. request    the station sends a fresh random challenge (protocol/provisioning.ts);
 *   2. proof      the device answers with its identity public key (generated on the device), the
 *                 device id it had before if any, and its signature over the challenge; the
 *                 station checks the signature (proof of possession) and the challenge;
 *   3. certificate the factory CA issues the device certificate (CN = device id, the proven key,
 *                 digitalSignature, clientAuth);
 *   4. bundle     the station sends the bundle signed by the factory key: device id, the identity
 *                 PUBLIC key, the certificate, the gateway's key, the role keys and the broker's
 *                 settings. No private key is in it, and none exists outside the device.
 *
 * The station keeps no secret but the factory key (in a production line, an HSM holds it and
 * signs); what it logs per step is in `StationLogEntry` (never a private key). A failed step is
 * retried from step 1 with a new challenge: every step is idempotent on the device until its
 * bundle is applied.
 */
import type { AeadAlgorithm, Crypto, KeyAgreementAlgorithm, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { bytesEqual, toHex } from "../../protocol/bytes.js";
import type { Role } from "../../protocol/command.js";
import { encodeProvisioningRequest, openProvisioningResponse } from "../../protocol/provisioning.js";
import { createProvisioningBundle, type BrokerSettings } from "../../protocol/provisioning-bundle.js";
import type { RoleKey } from "../../protocol/provisioning-bundle.js";
import { NodeCrypto } from "../crypto/node-crypto.js";
import type { FactoryCa } from "./pki.js";

/** A challenge is answered within this time or forgotten. */
export const CHALLENGE_TTL_MS = 10 * 60_000;
export const CHALLENGE_BYTES = 32;

export interface StationConfig {
  /** The factory CA: its key signs certificates and bundles (the device's `factory/key`). */
  ca: FactoryCa;
  gateway: { publicKey: Uint8Array; keyId: Uint8Array; agreementAlg: KeyAgreementAlgorithm };
  roles: Partial<Record<Role, RoleKey>>;
  aeadAlg: AeadAlgorithm;
  /** The MQTT broker the device should use (host, port, the CA of its server certificate). */
  broker?: BrokerSettings;
  /** Validity of device certificates in days (default pki.ts DEVICE_CERT_VALID_DAYS). */
  certificateDays?: number;
  /** Random challenges, bundle signatures and proof checks (default node:crypto). */
  crypto?: Crypto;
  now?: () => Date;
  /** Name of this station in its log. */
  stationId?: string;
  log?: (entry: StationLogEntry) => void;
}

/** One line of the station's log: what happened, to which device and key; never a secret. */
export interface StationLogEntry {
  time: string;
  station: string;
  step: "request" | "proof" | "certificate" | "bundle" | "failed";
  deviceId?: string;
  /** First 8 bytes of SHA-256 of the identity public key, in hex. */
  keyFingerprint?: string;
  firmwareVersion?: string;
  detail: string;
}

export type StationError = "bad-proof" | "unknown-challenge" | "wrong-device" | "wrong-algorithm";

export interface Provisioned {
  deviceId: Uint8Array;
  signatureAlg: SignatureAlgorithm;
  identityPublicKey: Uint8Array;
  /** The device certificate, DER. */
  certificate: Uint8Array;
  /** The bundle to send to the device (public data, signed by the factory key). */
  bundle: Uint8Array;
  /** The device said which id it had (a re-provisioning after a factory reset). */
  reportedDeviceId: boolean;
  firmwareVersion: string;
}

export type StationResult = { ok: true; provisioned: Provisioned } | { ok: false; error: StationError; detail: string };

export interface PendingChallenge {
  challenge: Uint8Array;
  issuedMs: number;
}

export class FactoryStation {
  private readonly crypto: Crypto;
  private readonly now: () => Date;
  /** Challenges sent and not yet answered. */
  readonly pending: PendingChallenge[] = [];

  constructor(private readonly c: StationConfig) {
    this.crypto = c.crypto ?? new NodeCrypto();
    this.now = c.now ?? (() => new Date());
  }

  /** The factory CA this station issues certificates with. */
  get ca(): FactoryCa {
    return this.c.ca;
  }

  private log(step: StationLogEntry["step"], detail: string, extra: Partial<StationLogEntry> = {}): void {
    this.c.log?.({ time: this.now().toISOString(), station: this.c.stationId ?? "station", step, detail, ...extra });
  }

  private fingerprint(publicKey: Uint8Array): string {
    return toHex(this.crypto.sha256(publicKey).subarray(0, 8));
  }

  /** Step 1: a provisioning request with a new challenge (remembered for CHALLENGE_TTL_MS). */
  request(): Uint8Array {
    const challenge = this.crypto.randomBytes(CHALLENGE_BYTES);
    this.expire();
    this.pending.push({ challenge, issuedMs: this.now().getTime() });
    this.log("request", `challenge ${toHex(challenge.subarray(0, 8))}...`);
    return encodeProvisioningRequest(challenge);
  }

  private expire(): void {
    const now = this.now().getTime();
    for (let i = this.pending.length - 1; i >= 0; i--) if (now - this.pending[i].issuedMs > CHALLENGE_TTL_MS) this.pending.splice(i, 1);
  }

  /**
   * Steps 2 to 4: checks the device's response against an outstanding challenge (which it
   * consumes), issues the certificate and builds the bundle. `deviceId` is the id to give a
   * device that reports none (a new device); a device that reports one keeps it, and must match
   * `expectDeviceId` when given. `expectAlg`: the algorithm the line configured the device for.
   */
  issue(response: Uint8Array, o: { deviceId: () => Uint8Array; expectDeviceId?: Uint8Array; expectAlg?: SignatureAlgorithm }): StationResult {
    this.expire();
    let proof = null;
    let lastDetail = "no challenge outstanding: send a request first";
    for (let i = 0; i < this.pending.length; i++) {
      const r = openProvisioningResponse(this.crypto, response, this.pending[i].challenge);
      if (r.ok) {
        proof = r.proof;
        this.pending.splice(i, 1);
        break;
      }
      lastDetail = r.detail;
    }
    if (proof === null) {
      const error: StationError = this.pending.length === 0 ? "unknown-challenge" : "bad-proof";
      this.log("failed", `proof refused: ${lastDetail}`);
      return { ok: false, error, detail: lastDetail };
    }
    const fp = this.fingerprint(proof.publicKey);
    const reported = proof.deviceId;
    this.log("proof", `identity key proven (${proof.alg})${reported ? `, device reports id ${toHex(reported)}` : ", a new device"}`, { keyFingerprint: fp, deviceId: reported ? toHex(reported) : undefined, firmwareVersion: proof.firmwareVersion });
    if (o.expectAlg && proof.alg !== o.expectAlg) {
      const detail = `the device's identity key is ${proof.alg}, the line expects ${o.expectAlg}`;
      this.log("failed", detail, { keyFingerprint: fp });
      return { ok: false, error: "wrong-algorithm", detail };
    }
    if (reported && o.expectDeviceId && !bytesEqual(reported, o.expectDeviceId)) {
      const detail = `the device is ${toHex(reported)}, not ${toHex(o.expectDeviceId)}`;
      this.log("failed", detail, { keyFingerprint: fp, deviceId: toHex(reported) });
      return { ok: false, error: "wrong-device", detail };
    }
    const deviceId = reported ?? o.expectDeviceId ?? o.deviceId();
    const idHex = toHex(deviceId);
    const certificate = this.c.ca.issueDeviceCertificate(idHex, proof.publicKey, { now: this.now(), validDays: this.c.certificateDays });
    this.log("certificate", `device certificate issued (${certificate.length} bytes, CN=${idHex}, clientAuth)`, { deviceId: idHex, keyFingerprint: fp });
    const bundle = createProvisioningBundle(this.crypto, { alg: "ES256", privateKey: this.c.ca.key.privateKey }, {
      deviceId,
      signatureAlg: proof.alg,
      identityPublicKey: proof.publicKey,
      gatewayPublicKey: this.c.gateway.publicKey,
      gatewayKeyId: this.c.gateway.keyId,
      agreementAlg: this.c.gateway.agreementAlg,
      aeadAlg: this.c.aeadAlg,
      roles: this.c.roles,
      certificate,
      broker: this.c.broker,
    });
    this.log("bundle", `bundle of ${bundle.length} bytes signed by the factory key (no private key in it)`, { deviceId: idHex, keyFingerprint: fp });
    return {
      ok: true,
      provisioned: { deviceId, signatureAlg: proof.alg, identityPublicKey: proof.publicKey, certificate, bundle, reportedDeviceId: reported !== null, firmwareVersion: proof.firmwareVersion },
    };
  }
}

/**
 * One device at the station, over a link: `start()` gives the request to send; `receive()` takes
 * the device's response and gives the bundle to send back, or, when a step failed, a new request
 * (at most `maxAttempts` in all), or null when it gives up.
 */
export class StationSession {
  attempts = 0;
  provisioned: Provisioned | null = null;
  lastError: string | null = null;

  constructor(
    private readonly station: FactoryStation,
    private readonly o: { deviceId: () => Uint8Array; expectDeviceId?: Uint8Array; expectAlg?: SignatureAlgorithm; maxAttempts?: number },
  ) {}

  start(): Uint8Array {
    this.attempts++;
    return this.station.request();
  }

  receive(response: Uint8Array): { send: Uint8Array | null; provisioned: Provisioned | null; error: string | null } {
    const r = this.station.issue(response, this.o);
    if (r.ok) {
      this.provisioned = r.provisioned;
      return { send: r.provisioned.bundle, provisioned: r.provisioned, error: null };
    }
    this.lastError = `${r.error}: ${r.detail}`;
    const retry = r.error === "bad-proof" || r.error === "unknown-challenge";
    if (!retry || this.attempts >= (this.o.maxAttempts ?? 3)) return { send: null, provisioned: null, error: this.lastError };
    return { send: this.start(), provisioned: null, error: this.lastError };
  }
}
