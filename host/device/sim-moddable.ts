/**
 * `npm run sim:moddable -- --seconds N [--json] [--transport mqtt|ble|both] [--rotate-at S]
 * [--update-at S] [--seed S] [--frame-period S]`: the wearable's own composition (entry/device.ts
 * over hal/moddable) built with the Moddable SDK for its desktop simulator (`mcconfig -d -p lin`),
 * run headless in the SDK's mcsim with the board's fixed heap, on a bench that provides what a
 * desktop lacks (host/device/lin-bench.ts, lin-board.ts): the sensor chips' register models
 * behind the SMBus stand-in, a BLE central, flash files and the bootloader's slot choice.
 *
 * What happens: the bench manufactures the board (factory image in ota_0, the factory CA's key
 * and the transport in NVS), boots it, connects as a BLE central and plays the factory station:
 * the device generated its identity key at first boot (natively, PSA's RNG); the station asks for
 * it, checks the device's signature over its challenge, has the factory CA (the seed's TEST key)
 * issue the device certificate, and sends a bundle with no private key in it. The device then
 * sends its frames over the stored transport: with `mqtt` (the default) over the SDK's TLS socket
 * and MQTT client to a mosquitto this script starts on loopback, with mutual TLS: the server
 * certificate chains to the CA built into the image, and the device presents its certificate,
 * signing the handshake with its identity key (hal/moddable/tls/handshake.js).
 * The gateway (host/gateway) verifies, stores and acknowledges them, so the device's queue
 * drains. `--rotate-at S` sends a signed rotate-keys command at S seconds; `--update-at S` builds
 * a 2.0.0 image, signs a release with the seed's TEST release key, serves it over HTTP and tells
 * the device (over the update characteristic) to fetch it with the SDK's HTTP client; the agent
 * installs it, the board resets through the bootloader model, and the new image confirms itself.
 *
 * Memory: the build is a debug build whose xsbug connection this script answers
 * (xsbug-listener.ts); the SDK's instrumentation reports the heap about once a second and the
 * image collects garbage every 250 ms, so the peaks are close to the live figures. The last line
 * (with --json, the only non-reading line on stdout) is a summary object.
 *
 * Exit: 0 when readings were verified, none was rejected, nothing aborted and, with --update-at,
 * the update was installed and confirmed; 1 otherwise; 2 for a usage error.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { gzipSync } from "node:zlib";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { ensurePrivateDir, writeSecretFile } from "../fs/private-files.js";
import { join } from "node:path";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { COMMAND_POLICY, signCommand, type Command, type CommandArgs } from "../../protocol/command.js";
import { decodeAck as decodeTransferAck, encodeTransferMessage } from "../../protocol/update-transfer.js";
import { toHex as bytesToHex } from "../../protocol/bytes.js";
import { Gateway, type GatewayReading } from "../gateway/gateway.js";
import { GatewayService, MemoryReadingStore, type Delivery } from "../gateway/service.js";
import { MOSQUITTO_INSTALL_HINT, makeTestCa, mosquittoAvailable, startBroker, type RunningBroker } from "../mqtt/broker.js";
import { MqttGateway } from "../mqtt/gateway-mqtt.js";
import { serveRelease, type OtaServer } from "../ota/server.js";
import { ensureTestReleaseKey, makeRelease } from "../release/release.js";
import { DEFAULT_HR_TRACE, readingLine } from "../sim/run-sim.js";
import { seededBytes, simFactoryCa, simKeys, simStation } from "../sim/sim-keys.js";
import { StationSession } from "../provision/station.js";
import { isProvisioningResponse } from "../../protocol/provisioning.js";
import { FACTORY_DOMAIN, FACTORY_KEYS, SETTINGS_DOMAIN, SETTINGS_KEYS } from "../../protocol/settings.js";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { safeText } from "../cli/safe-text.js";
import { LinBench } from "./lin-bench.js";
import { bootBoard, LIN_PARTITIONS, manufacture, runningEntry } from "./lin-board.js";
import { onPath, startXvfb, stopProcess as stop } from "./sim-processes.js";
import { compileForModdable, findSdk, modulesMissingFromManifest, repoRoot, run, type Sdk } from "./moddable-build.js";
import { ESP32_SLOT_BYTES, startXsbugListener, type XsbugListener } from "./xsbug-listener.js";

const flagSpecs = {
  seconds: { type: "number", help: "how long the device runs, from its first BLE connection (real time)", default: 60, min: 5, max: 3600, valueName: "N" },
  json: { type: "boolean", help: "JSON Lines on stdout: one object per verified reading, then a summary object" },
  transport: { type: "string", help: "the transport stored at manufacturing", default: "mqtt", choices: ["mqtt", "ble", "both"] },
  seed: { type: "number", help: "seed of the sensor models and the TEST keys", default: 1, integer: true, min: 0, max: 2 ** 31 - 1 },
  "frame-period": { type: "number", help: "seconds of readings per frame", default: 5, integer: true, min: 1, max: 60, valueName: "S" },
  "rotate-at": { type: "number", help: "send a signed rotate-keys command at S seconds", min: 1, valueName: "S" },
  "update-at": { type: "number", help: "build, sign and serve a 2.0.0 image and have the device fetch it over HTTP at S seconds", min: 1, valueName: "S" },
  "set-transport-at": { type: "string", help: "send a signed set-transport command at S seconds (e.g. 20:mqtt)", valueName: "S:T" },
  "broker-outage": { type: "string", help: "stop the broker at S seconds for D seconds (e.g. 15+15)", valueName: "S+D" },
  "wifi-password": { type: "string", help: "Wi-Fi password of the simulated access point (\"invalid!\" makes every join fail)", default: "bench", valueName: "P" },
} satisfies FlagSpecs;

const USAGE = "npm run sim:moddable -- [--seconds N] [--json] [--transport mqtt|ble|both] [--rotate-at S] [--update-at S] [--seed S]";
const SUMMARY = "Builds the device composition for the Moddable SDK's desktop simulator, runs it headless in mcsim with the board's fixed heap, and verifies its frames with the gateway.";

const out = (line: string) => process.stdout.write(line + "\n");
const err = (line: string) => process.stderr.write(line + "\n");

const simRoot = join(repoRoot, "build", "mc-sim");
const caDir = join(simRoot, "ca");
const boardDir = join(simRoot, "board");
/** Heap collection period of the measurement build (mcconfig memoryProbeMs). */
const MEMORY_PROBE_MS = 250;
const UPDATE_VERSION = "2.0.0";
const UPDATE_SEQUENCE = 2;



/** Ends a child this script started: SIGTERM (SIGKILL for a reset), then SIGKILL after a grace period. */

/** The TEST CA the broker's certificate chains to; its certificate is built into the image. */
function ensureCa(): { certFile: string; keyFile: string; derFile: string } {
  // The TEST CA's private key lives here (makeTestCa writes it 0600).
  ensurePrivateDir(caDir, { restrictExisting: true });
  const certFile = join(caDir, "ca.crt");
  const keyFile = join(caDir, "ca.key");
  const derFile = join(caDir, "mqtt-ca.der");
  // The TEST CA is valid for 2 days; make a new one once a day (the image is rebuilt with it).
  const fresh = existsSync(certFile) && existsSync(derFile) && Date.now() - statSync(certFile).mtimeMs < 24 * 3600_000;
  if (!fresh) {
    makeTestCa(caDir, 2);
    const pem = readFileSync(certFile, "utf8");
    const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    writeFileSync(derFile, Buffer.from(b64, "base64"));
  }
  return { certFile, keyFile, derFile };
}

interface BuildConfig {
  version: string;
  sequence: number;
  benchPort: number;
  seed: number;
  /** Wi-Fi and the broker in the build's config (any MQTT use in the run). */
  wifi: boolean;
  wifiPassword: string;
  brokerPort: number;
  caDer: string | null;
}

/** mcconfig -d -p lin of a manifest that includes the project's and sets this run's config; returns mc.so. */
async function buildImage(sdk: Sdk, c: BuildConfig, quiet: boolean): Promise<string> {
  const dir = join(simRoot, `app-${c.version}`);
  mkdirSync(dir, { recursive: true });
  const config: Record<string, unknown> = {
    firmwareVersion: c.version,
    firmwareSequence: String(c.sequence),
    benchPort: String(c.benchPort),
    simSeed: String(c.seed),
    simHr: DEFAULT_HR_TRACE.map((p) => `${p.atS}:${p.bpm}`).join(","),
    simSkinC: "33.5",
    otaSlotBytes: String(LIN_PARTITIONS.ota_1),
    memoryProbeMs: String(MEMORY_PROBE_MS),
    confirmAfterMs: "5000",
    file: { root: `${boardDir}/` },
  };
  if (c.wifi) {
    Object.assign(config, { wifiSsid: "bench", wifiPassword: c.wifiPassword, mqttBroker: "127.0.0.1", mqttPort: String(c.brokerPort), mqttTls: "1", dnsServers: "127.0.0.1" });
  }
  const manifest: Record<string, unknown> = { include: [join(repoRoot, "manifest.json")], config };
  if (c.caDer) manifest.resources = { "*": [c.caDer.replace(/\.der$/, "")] };
  // The config carries the bench broker's Wi-Fi password: mode 0600.
  writeSecretFile(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
  const outDir = join(dir, "out");
  mkdirSync(outDir, { recursive: true });
  const gen = await run(sdk.mcconfig, ["-d", "-p", "lin", "-o", outDir, join(dir, "manifest.json")]);
  if (gen.code !== 0) throw new Error(`mcconfig failed:\n${gen.output.trim().split("\n").slice(-20).join("\n")}`);
  const tmpDir = join(outDir, "tmp", "lin", "mc", "debug", "wearable");
  const binDir = join(outDir, "bin", "lin", "mc", "debug", "wearable");
  if (!quiet) err(`sim:moddable: building ${c.version} for the SDK simulator (the first build compiles XS, about a minute)`);
  const made = await run("make", ["-j2", "KILL_SIMULATOR=", "START_SIMULATOR=", "KILL_SERIAL2XSBUG=", "START_XSBUG="], { cwd: tmpDir });
  if (made.code !== 0) throw new Error(`make failed:\n${made.output.split("\n").slice(-30).join("\n")}`);
  const so = join(binDir, "mc.so");
  if (!existsSync(so)) throw new Error(`the build left no ${so}`);
  return so;
}

/**
 * A desktop image as it travels: stripped and gzip-compressed (the bench's boot loader inflates
 * it). The SDK simulator's sockets move 1536 bytes per 20 ms poll, about 75 KB/s, so a 5 MB
 * debug build would take over a minute to download; compressed it is under 1 MB. An ESP32
 * image is sent as built.
 */
function packImage(so: string): string {
  const stripped = `${so}.stripped`;
  const strip = spawnSync("strip", ["-o", stripped, so]);
  const bytes = readFileSync(strip.status === 0 ? stripped : so);
  const packed = `${so}.gz`;
  writeFileSync(packed, gzipSync(bytes, { level: 9 }));
  return packed;
}

async function main(argv: string[]): Promise<number> {
  const { flags, positional, help } = parseFlags("sim:moddable", flagSpecs, argv);
  if (help) {
    out(formatHelp(USAGE, SUMMARY, flagSpecs));
    return 0;
  }
  if (positional.length) throw new UsageError(`sim:moddable: unexpected argument "${positional[0]}" (see --help)`);
  const seconds = flags.seconds!;
  const transport = flags.transport!;
  const json = flags.json;
  const progress = (line: string) => {
    if (!json) err(line);
  };
  let switchAt: { atS: number; transport: "ble" | "mqtt" | "both" } | null = null;
  if (flags["set-transport-at"] !== undefined) {
    const m = /^(\d+(?:\.\d+)?):(ble|mqtt|both)$/.exec(flags["set-transport-at"]);
    if (!m) throw new UsageError(`sim:moddable: --set-transport-at needs SECONDS:ble|mqtt|both, not "${flags["set-transport-at"]}"`);
    switchAt = { atS: Number(m[1]), transport: m[2] as "ble" | "mqtt" | "both" };
  }
  let outage: { atS: number; forS: number } | null = null;
  if (flags["broker-outage"] !== undefined) {
    const m = /^(\d+(?:\.\d+)?)\+(\d+(?:\.\d+)?)$/.exec(flags["broker-outage"]);
    if (!m) throw new UsageError(`sim:moddable: --broker-outage needs START+DURATION in seconds, not "${flags["broker-outage"]}"`);
    outage = { atS: Number(m[1]), forS: Number(m[2]) };
    if (transport === "ble" && switchAt?.transport !== "mqtt" && switchAt?.transport !== "both") throw new UsageError("sim:moddable: --broker-outage needs an MQTT transport");
  }
  const usesMqtt = transport !== "ble" || (switchAt !== null && switchAt.transport !== "ble");
  for (const [flag, at] of [["rotate-at", flags["rotate-at"]], ["update-at", flags["update-at"]], ["set-transport-at", switchAt?.atS], ["broker-outage", outage?.atS]] as const) {
    if (at !== undefined && at >= seconds) throw new UsageError(`sim:moddable: --${flag} ${at} is not inside the run (--seconds ${seconds})`);
  }

  const sdk = findSdk();
  if (typeof sdk === "string") {
    if (process.env.CI) {
      err(`sim:moddable: ${sdk}`);
      return 1;
    }
    out(`sim:moddable: skipped: ${sdk}`);
    return 0;
  }
  if (!process.env.DISPLAY && !onPath("Xvfb")) {
    err("sim:moddable: the SDK simulator needs a display: install Xvfb (apt-get install xvfb) or set DISPLAY");
    return 1;
  }
  if (usesMqtt && !mosquittoAvailable()) {
    err(`sim:moddable: ${MOSQUITTO_INSTALL_HINT} (or run with --transport ble)`);
    return 1;
  }
  // Keys: the seed's TEST keys (the same as `npm start`), and a TEST factory key.
  const seed = flags.seed!;
  const keys = simKeys(seed);
  const deviceHex = bytesToHex(keys.deviceId);
  const hostCrypto = new NobleCrypto(seededBytes(seed, "sim-moddable-host"));
  // The factory CA (the seed's TEST key): its public key goes into NVS at manufacturing; it
  // certifies the key the device generates, and the gateway's MQTT client certificate.
  const factoryCa = simFactoryCa(seed);
  const gateway = new Gateway({ crypto: new NobleCrypto(seededBytes(seed, "gateway-runtime")), gatewayPrivateKey: keys.gatewayPrivateKey, agreementAlg: keys.agreementAlg });
  // The device is registered once the station has certified the key it proved it holds.
  let station: StationSession | null = null;
  let provisionedKey: string | null = null;
  const store = new MemoryReadingStore();
  const service = new GatewayService(gateway, store);

  let verified = 0;
  const rejected: Record<string, number> = {};
  const versions = new Set<string>();
  const results: { op: string; status: string }[] = [];
  let ackLevel = -1;
  let highestQseq = -1;
  const standard = { heartRate: 0, temperature: 0 };
  const framesVia = { ble: 0, mqtt: 0 };
  const seqs = new Set<number>();
  const resets: string[] = [];
  const updateReports: string[] = [];
  const delivered = (d: Delivery, qseq: number | null) => {
    const e = d.event;
    if (qseq !== null) highestQseq = Math.max(highestQseq, qseq);
    if (e && e.kind === "readings") {
      for (const r of e.readings as GatewayReading[]) {
        if (d.stored === 0) break;
        verified++;
        seqs.add(r.seq);
        if (r.firmwareVersion) versions.add(r.firmwareVersion);
        out(json ? JSON.stringify({ type: "reading", ...r }) : readingLine(r));
      }
    } else if (e && e.kind === "rejected" && d.kind === "rejected") {
      rejected[e.reason] = (rejected[e.reason] ?? 0) + 1;
      err(`gateway rejected a message: ${e.reason} (${safeText(e.detail)})`);
    } else if (e && e.kind === "result") {
      results.push({ op: String(e.op ?? e.body?.op ?? "?"), status: e.status });
      progress(`gateway: command #${e.commandId} ${safeText(e.status, 32)}`);
    } else if (e && e.kind === "update-status") {
      // Sealed with the frames, decrypted and verified by the gateway.
      updateReports.push(`${e.outcome}${e.reason ? ` (${e.reason})` : ""}`);
      progress(`gateway: update ${safeText(e.outcome, 40)}${e.reason ? ` (${safeText(e.reason, 80)})` : ""}: ${safeText(e.version || "-", 40)}`);
    } else if (e && e.kind === "epoch") progress(`gateway: device ${e.device} opened epoch ${e.epoch}`);
  };
  // The envelope: 0xAE, epoch (4), queue number (4), ... (docs/protocol.md section 17).
  const qseqOf = (m: Uint8Array): number | null => (m.length >= 9 && m[0] === 0xae ? new DataView(m.buffer, m.byteOffset).getUint32(5, false) : null);

  // The broker, with a server certificate from the TEST CA whose certificate goes into the image.
  let broker: RunningBroker | null = null;
  let mqttGateway: MqttGateway | null = null;
  const ca = usesMqtt ? ensureCa() : null;
  const gatewayIdentity = factoryCa.issueClientIdentity("gateway");
  const bench = new LinBench({
    frames(message) {
      if (isProvisioningResponse(message)) {
        // The station's steps 2-4: the device's proof in, the bundle (no private key) out.
        const r = station?.receive(message);
        if (r?.provisioned) {
          gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: r.provisioned.identityPublicKey, signatureAlg: r.provisioned.signatureAlg });
          provisionedKey = bytesToHex(r.provisioned.identityPublicKey);
          progress(`sim:moddable: the device proved its ${r.provisioned.signatureAlg} identity key (generated on the device); certificate issued, bundle sent`);
        }
        if (r?.error) faults.push(`provisioning: ${r.error}`);
        if (r?.send) bench.write("commands", r.send);
        return;
      }
      framesVia.ble++;
      const d = service.receive(deviceHex, message);
      delivered(d, qseqOf(message));
      if (d.ack) bench.write("acks", d.ack);
      if (d.ack && d.ack[0] === 0xac) ackLevel = Math.max(ackLevel, new DataView(d.ack.buffer, d.ack.byteOffset).getUint32(5, false));
    },
    update(message) {
      const ack = decodeTransferAck(message);
      if (ack) progress(`sim:moddable: update characteristic: ${safeText(ack.state, 32)} at ${ack.offset}${ack.reason ? ` (${safeText(ack.reason, 120)})` : ""}`);
      else err("sim:moddable: a notification on the update characteristic that is not an acknowledgement");
    },
    standard(name) {
      if (name === "measurement") standard.heartRate++;
      else if (name === "temperature") standard.temperature++;
    },
    reset(reason) {
      resets.push(reason);
      resetRequested = reason;
    },
    connected() {
      connectedAt ??= Date.now();
      if (!provisioned) {
        provisioned = true;
        // Step 1: ask the device for its identity key (the bundle follows its answer).
        station = new StationSession(
          simStation(keys, factoryCa, { broker: broker && ca ? { host: "127.0.0.1", port: broker.port, trustAnchors: [new Uint8Array(readFileSync(ca.derFile))] } : undefined }),
          { deviceId: () => keys.deviceId, expectDeviceId: keys.deviceId, expectAlg: "ES256" },
        );
        bench.write("commands", station.start());
        progress("sim:moddable: the factory station asks the device for its identity key over BLE");
      }
    },
  });
  let provisioned = false;
  let connectedAt: number | null = null;
  let resetRequested: string | null = null;

  let xsbug: XsbugListener | null = null;
  let xvfb: ChildProcess | null = null;
  let sim: ChildProcess | null = null;
  let ota: OtaServer | null = null;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const faults: string[] = [];
  let boots = 0;
  let finished = false;
  let otaCounts: Record<number, number> = {};
  let updateOutcome = "not requested";
  try {
    const benchPort = await bench.listen();
    if (usesMqtt) {
      broker = await startBroker({ clientCaPem: factoryCa.certificatePem, ca: ca! });
    }
    xsbug = await startXsbugListener(sdk.moddable);
    xsbug.onLine = (line) => {
      // Relayed from the device: escaped, like everything a device says.
      if (/^(warn|error)/.test(line) || !json) err(`device ${safeText(line, 400)}`);
    };

    // Build: TypeScript to JavaScript, then mcconfig and make for lin (and the update's image).
    await compileForModdable();
    const missing = modulesMissingFromManifest("lin");
    if (missing.length) {
      err(`sim:moddable: manifest.json does not name these modules: ${missing.join(", ")}`);
      return 1;
    }
    const base = { benchPort, seed, wifi: usesMqtt, wifiPassword: flags["wifi-password"]!, brokerPort: broker?.port ?? 0, caDer: ca?.derFile ?? null };
    const factoryImage = await buildImage(sdk, { ...base, version: "1.0.0", sequence: 1 }, json);
    let releaseDir: string | null = null;
    if (flags["update-at"] !== undefined) {
      const v2 = packImage(await buildImage(sdk, { ...base, version: UPDATE_VERSION, sequence: UPDATE_SEQUENCE }, json));
      releaseDir = join(simRoot, `release-${UPDATE_VERSION}`);
      const r = await makeRelease({ version: UPDATE_VERSION, sequence: UPDATE_SEQUENCE, keyPath: ensureTestReleaseKey(seed), outDir: releaseDir, minBatteryPercent: 0, fault: null, imageFile: v2 });
      if (typeof r === "string") throw new Error(`release: ${r}`);
      ota = await serveRelease(releaseDir);
      progress(`sim:moddable: release ${UPDATE_VERSION} (${r.imageBytes} bytes, signed with the seed's TEST release key) served at ${ota.url}`);
    }

    // The gateway's MQTT side; after a broker outage it connects again by itself (a new session).
    const startGateway = (b: RunningBroker) =>
      MqttGateway.start({
        host: b.host,
        port: b.port,
        caPem: b.caPem,
        serverName: b.serverName,
        clientId: "gateway-sim-moddable",
        certPem: gatewayIdentity.certificatePem,
        keyPem: gatewayIdentity.keyPem,
        service,
        onDelivery: (_device, d, message) => {
          framesVia.mqtt++;
          delivered(d, qseqOf(message));
          if (d.ack && d.ack[0] === 0xac) ackLevel = Math.max(ackLevel, new DataView(d.ack.buffer, d.ack.byteOffset).getUint32(5, false));
        },
        onConnectionEvent: (e) => {
          if (e.kind === "lost") progress(`sim:moddable: the gateway lost the broker (${safeText(e.reason)}); it connects again by itself`);
          else if (e.kind === "connected" && e.reconnection) progress(`sim:moddable: the gateway is connected to the broker again (after ${e.attempts} failed attempts)`);
          else if (e.kind === "gave-up") faults.push(`the gateway gave up connecting to the broker: ${e.error.message}`);
        },
      });

    // Manufacturing: erased flash, the factory image, NVS with the factory key and settings.
    manufacture(boardDir, factoryImage, {
      [FACTORY_DOMAIN]: { [FACTORY_KEYS.key]: factoryCa.key.publicKey },
      [SETTINGS_DOMAIN]: { [SETTINGS_KEYS.transport]: transport, [SETTINGS_KEYS.framePeriod]: flags["frame-period"]! },
    });
    if (broker) {
      mqttGateway = await startGateway(broker);
    }

    let display = process.env.DISPLAY ?? "";
    if (!display) {
      const x = await startXvfb();
      xvfb = x.child;
      display = x.display;
    }
    const boot = () => {
      const b = bootBoard(boardDir, boots++);
      progress(`sim:moddable: boot ${boots}: ${b.decision.actions.join("; ")}`);
      const child = spawn(join(sdk.binDir, "mcsim"), [b.image], { env: { ...process.env, DISPLAY: display, XSBUG_PORT: String(xsbug!.port), XSBUG_HOST: "127.0.0.1" }, stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
      child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
      child.on("exit", (code, signal) => {
        if (child === sim && !resetRequested && !interrupted && !finished && signal !== "SIGKILL") faults.push(`mcsim exited (${code ?? signal}): ${output.trim().slice(-400)}`);
      });
      return child;
    };
    sim = boot();
    const startedAt = Date.now();
    progress(`sim:moddable: mcsim running (pid ${sim.pid}, display ${display}), transport ${transport}`);

    let rotateSent = false;
    let updateSent = false;
    let commandId = 1;
    let lastQuery = 0;
    let switchSent = false;
    let outageState: "before" | "down" | "after" = "before";
    const sendCommand = (args: CommandArgs) => {
      const role = COMMAND_POLICY[args.op][0];
      const c: Command = { role, deviceId: keys.deviceId, commandId: commandId++, expiresMs: Date.now() + 120_000, args };
      bench.write("commands", signCommand(hostCrypto, keys.roles[role].alg, keys.roles[role].privateKey, c));
      progress(`sim:moddable: sent a signed ${args.op} command (${role} #${c.commandId})`);
    };
    while (!interrupted) {
      const now = Date.now();
      if (resetRequested) {
        const reason = resetRequested;
        resetRequested = null;
        progress(`sim:moddable: the device asked for a reset (${reason}); booting through the bootloader model`);
        await stop(sim, "SIGKILL");
        bench.deviceGone();
        sim = boot();
      }
      if (faults.length || (xsbug.faults.length && xsbug.faults.some((f) => /abort|memory full|overflow/i.test(f)))) break;
      if (connectedAt === null && now - startedAt > 60_000) {
        faults.push("the device did not advertise within 60 s");
        break;
      }
      if (connectedAt !== null) {
        const t = (now - connectedAt) / 1000;
        if (!rotateSent && flags["rotate-at"] !== undefined && t >= flags["rotate-at"]) {
          rotateSent = true;
          sendCommand({ op: "rotate-keys" });
        }
        if (switchAt && !switchSent && t >= switchAt.atS) {
          switchSent = true;
          sendCommand({ op: "set-transport", transport: switchAt.transport });
        }
        if (outage && broker && outageState === "before" && t >= outage.atS) {
          outageState = "down";
          progress(`sim:moddable: broker outage for ${outage.forS} s`);
          await broker.outage();
        } else if (outage && broker && outageState === "down" && t >= outage.atS + outage.forS) {
          outageState = "after";
          await broker.restore();
          // The gateway reconnects by itself (backoff up to 30 s); the broker is known to be back, so at once.
          mqttGateway?.reconnectNow();
          progress("sim:moddable: broker back");
        }
        if (!updateSent && flags["update-at"] !== undefined && t >= flags["update-at"] && ota) {
          updateSent = bench.writeRaw("update", encodeTransferMessage({ kind: "fetch", url: `${ota.url}/manifest.cbor` }));
          if (updateSent) progress("sim:moddable: asked the device to fetch the update over HTTP");
        }
        if (updateSent && !versions.has(UPDATE_VERSION) && now - lastQuery >= 5000) {
          lastQuery = now;
          bench.writeRaw("update", encodeTransferMessage({ kind: "query" }));
        }
        if (t >= seconds) break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (flags["update-at"] !== undefined) {
      const running = runningEntry(boardDir);
      const confirmed = running !== null && running.slot === 1 && running.state === "valid";
      updateOutcome = versions.has(UPDATE_VERSION) ? (confirmed ? "installed and confirmed" : `installed, otadata says ${running ? `ota_${running.slot} ${running.state}` : "nothing"}`) : updateSent ? "not installed" : "not sent";
    }
  } finally {
    finished = true;
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    await stop(sim);
    await stop(xvfb);
    await bench.close();
    mqttGateway?.close();
    await broker?.stop();
    if (ota) otaCounts = { ...ota.counts };
    await ota?.close();
    await xsbug?.close();
  }

  if (xsbug) for (const f of xsbug.faults) faults.push(f);
  const m = xsbug!.memory;
  const estimate32Bytes = m.peakSlots * ESP32_SLOT_BYTES + m.peakChunkBytes;
  const summary = {
    type: "summary",
    transport,
    seconds,
    verified,
    rejected: Object.values(rejected).reduce((a, b) => a + b, 0),
    rejectedBy: rejected,
    acknowledged: service.counters.acks,
    ackedThrough: ackLevel,
    highestQueued: highestQseq,
    queueDrained: highestQseq >= 0 && ackLevel >= highestQseq,
    firmwareVersions: [...versions].sort(),
    commandResults: results,
    framesVia,
    readingGaps: gapsIn(seqs),
    wifiRetryDelaysS: retryDelays(xsbug!.lines, /^warn: Wi-Fi: .*retrying in ([\d.]+) s/),
    mqttRetryDelaysS: retryDelays(xsbug!.lines, /^warn: MQTT: .*retrying in ([\d.]+) s/),
    update: updateOutcome,
    updateHttpRequests: otaCounts,
    boots,
    resets,
    // Provisioning: the key the device generated and proved (the station certified it), and the
    // account the broker gave the device's TLS client certificate (its CN) over mutual TLS.
    provisioning: { identityPublicKey: provisionedKey, brokerAccounts: brokerAccounts(broker?.output() ?? "") },
    standardNotifications: { ...standard, perSecond: connectedAt ? Math.round((standard.heartRate / seconds) * 100) / 100 : 0 },
    memory: {
      samples: m.samples,
      peakSlots: m.peakSlots,
      peakChunkBytes: m.peakChunkBytes,
      stackPeakSlots: m.stackPeakSlots,
      estimate32Bytes,
      creation: { slots: m.slotCapacity, chunkBytes: m.chunkCapacity, stackSlots: m.stackCapacitySlots },
      headroom: {
        slots: m.peakSlots ? Math.round((m.slotCapacity / m.peakSlots - 1) * 1000) / 10 : null,
        chunks: m.peakChunkBytes ? Math.round((m.chunkCapacity / m.peakChunkBytes - 1) * 1000) / 10 : null,
        stack: m.stackPeakSlots ? Math.round((m.stackCapacitySlots / m.stackPeakSlots - 1) * 1000) / 10 : null,
      },
    },
    faults,
  };
  if (json) out(JSON.stringify(summary));
  else {
    err(`sim:moddable: ${verified} readings verified, ${summary.rejected} rejected, ${service.counters.acks} acknowledgements, queue ${summary.queueDrained ? "drained" : "not drained"}, transport ${transport}, firmware ${safeText(summary.firmwareVersions.join(", ") || "?")}`);
    err(`sim:moddable: memory: peak ${m.peakSlots} slots, ${m.peakChunkBytes} chunk bytes, stack ${m.stackPeakSlots} slots; ESP32 estimate ${estimate32Bytes} bytes`);
    // Faults quote the simulator's and the device's own output: escaped.
    for (const f of faults) err(`sim:moddable: fault: ${safeText(f, 600)}`);
  }
  const updateOk = flags["update-at"] === undefined || updateOutcome === "installed and confirmed";
  return verified > 0 && summary.rejected === 0 && faults.length === 0 && updateOk && !interrupted ? 0 : 1;
}


/** The accounts mosquitto named connecting clients with (`u'<CN>'` of their certificates). */
function brokerAccounts(log: string): string[] {
  return [...new Set([...log.matchAll(/New client connected from \S+ as \S+ \(.*u'([^']+)'\)/g)].map((m) => m[1]))].sort();
}

/** Missing reading sequence numbers between the first and the last verified. */
function gapsIn(seqs: Set<number>): number {
  if (seqs.size === 0) return 0;
  const sorted = [...seqs].sort((a, b) => a - b);
  return sorted[sorted.length - 1] - sorted[0] + 1 - sorted.length;
}

/** The backoff delays the device logged, in order. */
function retryDelays(lines: readonly string[], pattern: RegExp): number[] {
  const out: number[] = [];
  for (const l of lines) {
    const m = pattern.exec(l);
    if (m) out.push(Number(m[1]));
  }
  return out;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      err(e.message);
      process.exitCode = 2;
    } else {
      err(`sim:moddable: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = 1;
    }
  },
);
