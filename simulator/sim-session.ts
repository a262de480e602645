/**
 * The simulator's composition root: one virtual board (hal/sim) wired to the firmware, with the
 * portable crypto. The same file runs inside XS (through entry/xsnap-worker.ts) and on Node.
 */
import type { AeadAlgorithm, KeyAgreementAlgorithm, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import type { LogLevel } from "../hal/contracts/log.js";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { findScenario, scenarioNames } from "../hal/sim/scenarios.js";
import { VirtualBoard, type ScheduledFault, type VirtualBoardOptions } from "../hal/sim/board.js";
import { WearableFirmware, PPG_SAMPLE_RATE, type FirmwareStatus } from "../firmware/app.js";
import { SETTINGS_DOMAIN, SETTINGS_KEYS, FACTORY_DOMAIN, FACTORY_KEYS } from "../protocol/settings.js";
import { loadCredentials, storeCredentials } from "../firmware/security/credentials.js";
import { storeRoleKey } from "../firmware/security/trust.js";
import { storeFactoryKey } from "../firmware/security/provisioning.js";
import type { Role } from "../protocol/command.js";
import { hexToBytes } from "../protocol/bytes.js";
import { PpgProbe, collectTelemetry, runControl, type SimTelemetry } from "./sim-telemetry.js";
import { fragmentMessage } from "../protocol/link-framing.js";
import { MqttFrameLink } from "../firmware/link/mqtt-link.js";
import { MqttSocketClient } from "../firmware/link/mqtt-socket-client.js";
import type { TlsClientIdentity } from "../hal/contracts/socket.js";
import { TransportLink } from "../firmware/link/transport-link.js";
import { loadTransport } from "../firmware/security/command-handler.js";
import { SimUpdateStack, restoreBoard, type PersistedBoard, type SimImageStamp, type SimUpdateBridge, type SimUpdateStatus } from "./sim-update.js";
import { simEntropySource } from "./sim-entropy.js";

/**
 * A board made ready by a test or a bench: the whole identity, private key included, written
 * straight into the store. It stands for a device provisioned earlier, for runs that study
 * something else (links, sensing, commands, fleets). The provisioning path itself (the key born
 * on the device, the station's exchange) is what `provisioning: null` with a `factoryKey` and a
 * `provisioningMessage` runs (host/provision/station.ts, docs/provisioning.md).
 */
export interface SimProvisioning {
  deviceId: string;
  signingKey: string;
  /** The identity public key (hex); derived from the private key when absent. */
  identityPublicKey?: string;
  /** The device certificate (X.509 DER, hex): its TLS client certificate at the broker. */
  certificate?: string;
  signatureAlg: SignatureAlgorithm;
  gatewayPublicKey: string;
  gatewayKeyId: string;
  agreementAlg: KeyAgreementAlgorithm;
  aeadAlg: AeadAlgorithm;
  /** Role public keys (hex) for the trust store; TEST KEYS in the simulator. */
  trust?: Partial<Record<Role, { alg: SignatureAlgorithm; publicKey: string }>>;
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
  /** PPG waveform beyond the heart rate (a scenario's variability, motion, contact, perfusion). */
  ppg?: VirtualBoardOptions["ppg"];
  /** Faults injected at set times. */
  faults?: ScheduledFault[];
  /** Skin thermometer on the board (hal/sim/chips.ts; default MAX30205). */
  thermometerChip?: VirtualBoardOptions["thermometerChip"];
  /** Start in lab mode: raw PPG streamed in records (key 4). */
  labMode?: boolean;
  /** Factory public key written "at manufacturing" (verifies provisioning bundles). */
  factoryKey?: { alg: SignatureAlgorithm; publicKey: string };
  /** Algorithm of the identity key the device generates, written "at manufacturing" (default ES256). */
  identityAlg?: SignatureAlgorithm;
  /**
   * A provisioning message (hex) the central writes to the device after connecting: the factory
   * station's request (the station answers the device's proof with a bundle), or a bundle.
   */
  provisioningMessage?: string;
  /** Seconds between periodic epoch rotations (default: the firmware's, one hour). */
  epochPeriodS?: number;
  /**
   * Per-run entropy (hex, 16 bytes from the host's random source; recorded with the run to repeat
   * it): mixed into the device's random source, so runs with one seed never share epoch keys.
   * Absent: the keys depend on the seed and this configuration only (simulator/sim-entropy.ts).
   */
  runNonce?: string;
  /** Messages (hex) the central writes to the device at given simulated seconds (signed commands). */
  centralMessages?: { atS: number; hex: string }[];
  /** What the running image's release stamped into it (version, sequence, test fault); absent: the factory build. */
  image?: SimImageStamp | null;
  /** Link to the gateway (default: the "transport" setting, else BLE); "both" prefers BLE and falls back to MQTT. */
  transport?: "ble" | "mqtt" | "both";
  /** The MQTT broker the board's Wi-Fi reaches (a real one on the host, through the XS bridge). */
  mqtt?: SimMqttConfig;
}

export interface SimMqttConfig {
  host: string;
  port: number;
  /** TLS server name to verify (the host verifies against its CA); null for plain TCP. */
  tlsServerName: string | null;
  /** The MQTT client id. The broker takes the account name from the device certificate (mutual TLS). */
  username: string;
  /** Only for a broker that still takes passwords (none of the project's). */
  password?: string;
  /** e.g. `wearable/<device id>`. */
  topicPrefix: string;
  /** CA certificate (PEM) the host side verifies the broker with (never used inside the board). */
  caPem?: string;
}

/** What the session needs from whoever runs it: the host side of the radio and the log. */
export interface SimHostBridge extends SimUpdateBridge {
  notify(payload: Uint8Array): void;
  log(level: LogLevel, message: string): void;
}

export interface SimStatus {
  /** Virtual ms since this boot of the board. */
  virtualMs: number;
  /** Virtual ms since the run started (goes on through resets into another image). */
  runMs: number;
  firmware: FirmwareStatus;
  /** Update path: boot slot and state, agent progress, and whether the board asks to be reset. */
  update?: SimUpdateStatus;
}

/** From a reboot to the central's reconnection (boot, advertising, connection setup). */
export const BOOT_TO_CONNECTION_MS = 2000;

export class SimSession {
  readonly board: VirtualBoard;
  /** The running firmware (a new instance after each reboot or power cut). */
  firmware: WearableFirmware;
  /** Reboots and power cuts so far. */
  readonly restarts = { reboots: 0, powerCuts: 0 };
  private readonly firmwareHal: ReturnType<VirtualBoard["hal"]>;

  /** The update path (boot slots, agent, update characteristic, watchdog). */
  readonly updates: SimUpdateStack;

  /** `persisted`: the board's store, flash and boot decision after a reset (the host boots a fresh engine from them). */
  constructor(config: SimSessionConfig, bridge: SimHostBridge, persisted: PersistedBoard | null = null) {
    this.board = new VirtualBoard({
      seed: config.seed,
      startWallTimeMs: config.startWallTimeMs,
      heartRate: config.heartRate,
      skinTempC: config.skinTempC,
      ppg: config.ppg,
      faults: config.faults,
      thermometerChip: config.thermometerChip,
      // The wearer is not the board's: after a reset the body goes on where it was.
      wearer: persisted?.wearer ?? null,
    });
    if (persisted) restoreBoard(this.board, persisted);
    // The device's random source: the board's seeded generator mixed with the run (simulator/sim-entropy.ts).
    const crypto: NobleCrypto = new NobleCrypto(simEntropySource(this.board.rng, JSON.stringify(config), () => crypto));
    if (config.provisioning) {
      const p = config.provisioning;
      const signingKey = hexToBytes(p.signingKey);
      // A device provisioned earlier: its first provisioning recorded its id (kept across factory resets).
      this.board.store.set(FACTORY_DOMAIN, FACTORY_KEYS.deviceId, hexToBytes(p.deviceId).buffer as ArrayBuffer);
      storeCredentials(this.board.store, {
        deviceId: hexToBytes(p.deviceId),
        signingKey,
        signatureAlg: p.signatureAlg,
        identityPublicKey: p.identityPublicKey ? hexToBytes(p.identityPublicKey) : crypto.signatureKeyPair(p.signatureAlg, signingKey).publicKey,
        ...(p.certificate ? { certificate: hexToBytes(p.certificate) } : {}),
        gatewayPublicKey: hexToBytes(p.gatewayPublicKey),
        gatewayKeyId: hexToBytes(p.gatewayKeyId),
        agreementAlg: p.agreementAlg,
        aeadAlg: p.aeadAlg,
      });
      for (const [role, k] of Object.entries(p.trust ?? {})) {
        if (k) storeRoleKey(this.board.store, role as Role, { alg: k.alg, publicKey: hexToBytes(k.publicKey) });
      }
    }
    if (config.factoryKey) storeFactoryKey(this.board.store, { alg: config.factoryKey.alg, publicKey: hexToBytes(config.factoryKey.publicKey) });
    if (config.identityAlg && config.identityAlg !== "ES256") this.board.store.set(FACTORY_DOMAIN, FACTORY_KEYS.identityAlg, config.identityAlg);
    if (config.epochPeriodS !== undefined) this.board.store.set(SETTINGS_DOMAIN, SETTINGS_KEYS.epochPeriod, config.epochPeriodS);
    this.provisioningMessage = config.provisioningMessage ? hexToBytes(config.provisioningMessage) : null;
    this.centralMessages = config.centralMessages ?? [];
    this.board.store.set(SETTINGS_DOMAIN, SETTINGS_KEYS.framePeriod, config.framePeriodS);
    this.board.link.central.onNotify = (payload: Uint8Array) => bridge.notify(payload);
    this.firmwareHal = this.board.hal({ crypto, log: { log: (level, message) => bridge.log(level, message) }, firmwareVersion: config.firmwareVersion });
    // The transport is a setting the firmware reads at start ("manufacturing" writes the run's).
    if (config.transport && this.board.store.get(SETTINGS_DOMAIN, SETTINGS_KEYS.transport) === undefined) this.board.store.set(SETTINGS_DOMAIN, SETTINGS_KEYS.transport, config.transport);
    const transport = config.transport ?? loadTransport(this.board.store);
    if (transport !== "ble" && config.mqtt) {
      const m = config.mqtt;
      const board = this.board;
      const store = board.store;
      const connector = new MqttSocketClient({
        socket: board.network.open,
        timers: board.clock,
        clock: board.clock,
        host: m.host,
        port: m.port,
        tlsServerName: m.tlsServerName,
        ...(m.password ? { username: m.username, password: m.password } : {}),
      });
      this.mqttLink = new MqttFrameLink({
        connector,
        timers: board.clock,
        log: this.firmwareHal.log,
        random: () => board.rng.nextFloat(),
        // Mutual TLS with the device certificate provisioning installed and the key born here.
        account: () => {
          const c = loadCredentials(store);
          if (!c.ok) return null;
          const identity = c.credentials.certificate && c.credentials.signatureAlg === "ES256" ? { certificate: c.credentials.certificate, privateKey: c.credentials.signingKey } : null;
          return { clientId: m.username, topicPrefix: m.topicPrefix, identity };
        },
      });
      // As on the device (entry/device.ts): BLE always (provisioning, and the "ble"/"both" transports), MQTT as the setting says.
      this.transportLink = new TransportLink(board.link.device, this.mqttLink, this.firmwareHal.log);
      this.firmwareHal.link = this.transportLink;
    }
    this.firmware = new WearableFirmware(this.firmwareHal);
    this.mtu = config.mtu;
    this.labMode = config.labMode === true;
    this.updates = new SimUpdateStack({ board: this.board, firmware: { getStatus: () => this.firmware.getStatus(), securityLog: this.firmware.securityLog, sendStatusReport: (m) => this.firmware.sendStatusReport(m) }, crypto, log: this.firmwareHal.log, image: config.image ?? null, firmwareVersion: config.firmwareVersion, bridge, boot: persisted ? persisted.boot : null });
  }

  private readonly mtu: number;
  private readonly labMode: boolean;
  /** The Wi-Fi link when the transport is "mqtt" or "both". */
  readonly mqttLink: MqttFrameLink<TlsClientIdentity> | null = null;
  /** The transport switch over BLE and MQTT: the only one that starts and stops the MQTT session, as on the device. */
  private readonly transportLink: TransportLink | null = null;
  private readonly provisioningMessage: Uint8Array | null;
  private readonly centralMessages: { atS: number; hex: string }[];

  boot(): void {
    this.firmware.start();
    if (this.labMode) this.firmware.setLabMode(true);
    this.board.link.central.connect(this.mtu);
    this.updates.start(this.mtu);
    if (this.provisioningMessage) this.centralSend(this.provisioningMessage);
    for (const m of this.centralMessages) {
      const bytes = hexToBytes(m.hex);
      this.board.clock.set(() => this.centralSend(bytes), Math.max(0, Math.round(m.atS * 1000)));
    }
  }

  private sendNumber = 0;
  private readonly outbox: { message: Uint8Array; fragments: Uint8Array[] | null; next: number }[] = [];

  /**
   * Central -> device: queues one message (a command, a provisioning bundle); it is split into
   * writes of the link's payload limit once the link is up, and written as the link takes them.
   */
  centralSend(message: Uint8Array): void {
    this.outbox.push({ message: message.slice(), fragments: null, next: 0 });
    this.flushCentral();
  }

  private flushCentral(): void {
    const central = this.board.link.central;
    while (central.connected && this.outbox.length > 0) {
      const head = this.outbox[0];
      if (head.fragments === null) head.fragments = fragmentMessage(head.message, central.mtu - 3, this.sendNumber++);
      while (head.next < head.fragments.length) {
        if (!central.write(head.fragments[head.next])) return;
        head.next++;
      }
      this.outbox.shift();
    }
  }

  /** Reboot: the firmware stops cleanly, the store and flash stay, the radio reconnects after boot. */
  reboot(): string {
    this.firmware.stop();
    this.restart();
    this.restarts.reboots++;
    return "";
  }

  /**
   * Power cut now, or, with `afterFlashOps`, at that many flash operations from now (the cut
   * then tears that operation, in the middle of whatever the firmware was doing).
   */
  powerCut(afterFlashOps?: string | number): string {
    const n = afterFlashOps === undefined || afterFlashOps === "" ? 0 : Number(afterFlashOps);
    if (!(Number.isInteger(n) && n >= 0)) return `power-cut needs a whole number of flash operations, not "${String(afterFlashOps)}"`;
    if (n > 0) {
      this.board.flash.cutPowerAtOperation(this.board.flash.counters.operations + n - 1);
      return "";
    }
    this.board.flash.cutPower();
    this.afterPowerCut();
    return "";
  }

  private afterPowerCut(): void {
    this.firmware.stop();
    this.board.flash.restorePower();
    this.restart();
    this.restarts.powerCuts++;
    this.updates.powerCut();
  }

  /** Drops the radio, starts a new firmware on the same board, and lets the central reconnect. */
  private restart(): void {
    const central = this.board.link.central;
    central.disconnect();
    // The Wi-Fi connection dies with the old firmware (no DISCONNECT: the broker sends the will).
    if (this.transportLink) this.transportLink.stop();
    this.firmware = new WearableFirmware(this.firmwareHal);
    this.firmware.start();
    this.board.clock.set(() => {
      if (!central.connected) central.connect(this.mtu);
    }, BOOT_TO_CONNECTION_MS);
  }

  advance(ms: number): void {
    // A cut that hit outside `advance` (in an HTTP response handed to the device) restarts it now.
    if (!this.board.flash.poweredOn) this.afterPowerCut();
    const end = this.board.clock.ticks() + ms;
    for (;;) {
      try {
        this.board.clock.advanceTo(end);
        break;
      } catch (e) {
        // A power cut armed at a flash operation surfaces as that operation's error.
        if (this.board.flash.poweredOn) throw e;
        this.afterPowerCut();
      }
    }
    this.flushCentral();
  }

  status(): SimStatus {
    return { virtualMs: this.board.clock.ticks(), runMs: this.board.wearerClock.ticks(), firmware: this.firmware.getStatus(), update: this.updates.status() };
  }

  private readonly probe = new PpgProbe();

  /**
   * Dashboard telemetry; PPG samples from index `sinceSample` on (bounded ring). Its time is the
   * run's, and its sample index counts from the run's start: after a reset into another image
   * (a new session, a new probe) they go on from where the run stood at the boot.
   */
  telemetry(sinceSample: number): SimTelemetry {
    const base = Math.round((this.board.runMsAtBoot * PPG_SAMPLE_RATE) / 1000);
    const t = collectTelemetry(this, this.probe, sinceSample - base, PPG_SAMPLE_RATE);
    const virtualMs = this.board.wearerClock.ticks();
    if (base === 0) return { ...t, virtualMs };
    const baseMs = (base * 1000) / PPG_SAMPLE_RATE;
    return { ...t, virtualMs, ppg: { ...t.ppg, firstIndex: t.ppg.firstIndex + base }, beats: t.beats.map((ms) => Math.round((ms + baseMs) * 10) / 10) };
  }

  /** The wearer follows the named shipped scenario from now on; "" when done, else why not. */
  setScenario(name?: string): string {
    const scenario = findScenario(name ?? "");
    if (!scenario) return `unknown scenario "${name ?? ""}" (shipped: ${scenarioNames().join(", ")})`;
    this.board.changeWearer(scenario, this.board.wearerClock.ticks());
    return "";
  }

  /** Carries out a dashboard control (link-drop, reboot, power-cut, scenario); "" when done, else why not. */
  control(name: string, arg: string): string {
    return runControl(this, name, arg, this.mtu);
  }
}
