/**
 * The simulator's composition root: one virtual board (hal/sim) wired to the firmware, with the
 * portable crypto. The same file runs inside XS (through entry/xsnap-worker.ts) and on Node.
 */
import type { AeadAlgorithm, KeyAgreementAlgorithm, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import type { LogLevel } from "../hal/contracts/log.js";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { VirtualBoard } from "../hal/sim/board.js";
import { WearableFirmware, SETTINGS_DOMAIN, type FirmwareStatus } from "../firmware/app.js";
import { storeCredentials } from "../firmware/security/credentials.js";
import { hexToBytes } from "./utf8.js";

export interface SimProvisioning {
  deviceId: string;
  signingKey: string;
  signatureAlg: SignatureAlgorithm;
  gatewayPublicKey: string;
  gatewayKeyId: string;
  agreementAlg: KeyAgreementAlgorithm;
  aeadAlg: AeadAlgorithm;
}

export interface SimSessionConfig {
  seed: number;
  startWallTimeMs: number;
  heartRate: { atS: number; bpm: number }[];
  skinTempC: { atS: number; celsius: number }[];
  framePeriodS: number;
  firmwareVersion: string;
  /** ATT MTU the central negotiates on connection. */
  mtu: number;
  provisioning: SimProvisioning | null;
}

/** What the session needs from whoever runs it: the host side of the radio and the log. */
export interface SimHostBridge {
  notify(payload: Uint8Array): void;
  log(level: LogLevel, message: string): void;
}

export interface SimStatus {
  virtualMs: number;
  firmware: FirmwareStatus;
}

export class SimSession {
  readonly board: VirtualBoard;
  readonly firmware: WearableFirmware;

  constructor(config: SimSessionConfig, bridge: SimHostBridge) {
    this.board = new VirtualBoard({
      seed: config.seed,
      startWallTimeMs: config.startWallTimeMs,
      heartRate: config.heartRate,
      skinTempC: config.skinTempC,
    });
    const rng = this.board.rng;
    const crypto = new NobleCrypto((n) => {
      const out = new Uint8Array(n);
      rng.fillBytes(out);
      return out;
    });
    if (config.provisioning) {
      const p = config.provisioning;
      storeCredentials(this.board.store, {
        deviceId: hexToBytes(p.deviceId),
        signingKey: hexToBytes(p.signingKey),
        signatureAlg: p.signatureAlg,
        gatewayPublicKey: hexToBytes(p.gatewayPublicKey),
        gatewayKeyId: hexToBytes(p.gatewayKeyId),
        agreementAlg: p.agreementAlg,
        aeadAlg: p.aeadAlg,
      });
    }
    this.board.store.set(SETTINGS_DOMAIN, "framePeriodS", config.framePeriodS);
    this.board.link.central.onNotify = (payload: Uint8Array) => bridge.notify(payload);
    this.firmware = new WearableFirmware(
      this.board.hal({ crypto, log: { log: (level, message) => bridge.log(level, message) }, firmwareVersion: config.firmwareVersion }),
    );
    this.mtu = config.mtu;
  }

  private readonly mtu: number;

  boot(): void {
    this.firmware.start();
    this.board.link.central.connect(this.mtu);
  }

  advance(ms: number): void {
    this.board.clock.advance(ms);
  }

  status(): SimStatus {
    return { virtualMs: this.board.clock.ticks(), firmware: this.firmware.getStatus() };
  }
}
