/**
 * The files a `wearable sim` run writes about its keys and traffic, all private (folders 0700,
 * files 0600: host/fs/private-files.ts):
 * - `--record DIR`: DIR/messages.cborseq, every message as it reached the gateway, and
 *   DIR/keys.json, what a verifier needs (public keys and each epoch's shared secret, observed
 *   from the gateway's key agreements; never the gateway's private key);
 * - `--gateway-keys-out FILE`: the keys a live gateway needs for the device, its private key
 *   included (the file `wearable gateway --keys` reads).
 */
import { join } from "node:path";
import type { KeyAgreementAlgorithm, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { toHex as bytesToHex } from "../../protocol/bytes.js";
import { NodeCrypto } from "../crypto/node-crypto.js";
import { appendSecretFile, ensurePrivateDir, writeSecretFile } from "../fs/private-files.js";
import type { GatewayEvent } from "../gateway/gateway.js";
import type { Provisioned } from "../provision/station.js";
import { EpochSecretCapture, RECORDING_KEYS_FORMAT, type RecordingKeysFile } from "../replay/recording-keys.js";

/** The run's device and gateway keys; the identity key is the one the station certified (empty before). */
export interface RunKeys {
  deviceId: Uint8Array;
  identityPublicKey: Uint8Array;
  signatureAlg: SignatureAlgorithm;
  agreementAlg: KeyAgreementAlgorithm;
  gatewayPrivateKey: Uint8Array;
  gatewayPublicKey: Uint8Array;
  gatewayKeyId: Uint8Array;
}

export class SimRecording {
  /** Observes the gateway's key agreements (recording only), so that keys.json holds each epoch's secret. */
  readonly capture: EpochSecretCapture | null;
  private readonly keysFile: RecordingKeysFile | null;

  /** `registry`: the keys are those of `wearable provision` (else the seed's TEST keys). */
  constructor(
    private readonly o: { record?: string; gatewayKeysOut?: string },
    private readonly keys: RunKeys,
    private readonly registry: { retiredKeys: Uint8Array[] } | undefined,
    run: { seed: number; runNonce: string },
  ) {
    this.capture = o.record ? new EpochSecretCapture(new NodeCrypto(), keys.gatewayPrivateKey) : null;
    this.keysFile = o.record ? this.initialKeysFile(run) : null;
    if (o.record) {
      ensurePrivateDir(o.record);
      writeSecretFile(join(o.record, "messages.cborseq"), new Uint8Array(0));
      this.writeKeysFile();
    }
  }

  private initialKeysFile(run: { seed: number; runNonce: string }): RecordingKeysFile {
    const keys = this.keys;
    return {
      format: RECORDING_KEYS_FORMAT,
      note:
        "Keys to verify and replay messages.cborseq (every message as it reached the gateway, in order: an RFC 8742 CBOR sequence; docs/protocol.md says how to decode and verify them, docs/simulator.md describes this file). " +
        "It holds no private key: the gateway's is not copied. \"epochs\" holds each epoch's ECDH shared secret Z, which opens that epoch's frames: keep this file private (mode 0600). " +
        (this.registry ? "The device and gateway keys are those of `wearable provision` (TEST KEYS)." : "TEST KEYS of a simulated device and gateway; never use them elsewhere."),
      deviceId: bytesToHex(keys.deviceId),
      signatureAlg: keys.signatureAlg,
      deviceIdentityPublicKey: bytesToHex(keys.identityPublicKey),
      retiredIdentityPublicKeys: (this.registry?.retiredKeys ?? []).map((k) => bytesToHex(k)),
      agreementAlg: keys.agreementAlg,
      gatewayKeyId: bytesToHex(keys.gatewayKeyId),
      gatewayPublicKey: bytesToHex(keys.gatewayPublicKey),
      run: { seed: run.seed, runNonce: run.runNonce },
      epochs: [],
    };
  }

  /** Rewritten whole (atomically) at every change, so that an interrupted run leaves a usable file. */
  private writeKeysFile(): void {
    if (this.o.record && this.keysFile) writeSecretFile(join(this.o.record, "keys.json"), JSON.stringify(this.keysFile, null, 2) + "\n", { atomic: true });
  }

  /** The station certified the device's key: both files name it. */
  provisioned(p: Provisioned, retiredKeys: Uint8Array[]): void {
    if (this.keysFile) {
      this.keysFile.signatureAlg = p.signatureAlg;
      this.keysFile.deviceIdentityPublicKey = bytesToHex(p.identityPublicKey);
      this.keysFile.retiredIdentityPublicKeys = retiredKeys.map((k) => bytesToHex(k));
      this.writeKeysFile();
    }
    this.writeGatewayKeys();
  }

  /** Keeps the shared secret of an epoch the gateway opened with this event. */
  observe(event: GatewayEvent): void {
    if (!this.capture || !this.keysFile) return;
    const fresh = this.capture.take(event, this.keysFile.deviceId);
    if (fresh.length) {
      this.keysFile.epochs.push(...fresh);
      this.writeKeysFile();
    }
  }

  /** One message as it reached the gateway. */
  append(message: Uint8Array): void {
    if (this.o.record) appendSecretFile(join(this.o.record, "messages.cborseq"), message);
  }

  private writeGatewayKeys(): void {
    if (!this.o.gatewayKeysOut) return;
    const keys = this.keys;
    const file = {
      note:
        "The keys a live gateway needs for this device (wearable gateway --keys FILE). It holds the gateway's PRIVATE key: keep it private (mode 0600) and never put it in a recording. " +
        (this.registry ? "Keys of `wearable provision` (TEST KEYS)." : "TEST KEYS of a simulated device and gateway; never use them elsewhere."),
      deviceId: bytesToHex(keys.deviceId),
      signatureAlg: keys.signatureAlg,
      deviceIdentityPublicKey: bytesToHex(keys.identityPublicKey),
      agreementAlg: keys.agreementAlg,
      gatewayKeyId: bytesToHex(keys.gatewayKeyId),
      gatewayPublicKey: bytesToHex(keys.gatewayPublicKey),
      gatewayPrivateKey: bytesToHex(keys.gatewayPrivateKey),
    };
    writeSecretFile(this.o.gatewayKeysOut, JSON.stringify(file, null, 2) + "\n");
  }
}
