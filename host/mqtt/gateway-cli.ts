/**
 * `npm run wearable -- gateway`: the gateway over MQTT. Subscribes to every device's frames (a
 * shared subscription with --share, so several instances split the stream), verifies,
 * deduplicates, stores into SQLite and acknowledges. It authenticates to the broker with its
 * client certificate from the factory CA (mutual TLS; `wearable provision` writes
 * keys/gateway-mqtt.crt and .key). With --demo it starts a local mosquitto (mutual TLS, ACLs)
 * and one simulated wearable that publishes to it, for a self-contained run.
 */
import { readFileSync, existsSync } from "node:fs";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { fromHex, toHex } from "../../protocol/bytes.js";
import type { KeyAgreementAlgorithm, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { Gateway } from "../gateway/gateway.js";
import { GatewayService } from "../gateway/service.js";
import { removeDatabase, SqliteStore, sqliteAvailable, storeSealingKey, SQLITE_MISSING } from "../gateway/store-sqlite.js";
import { startEngine, type EngineName } from "../sim/engines.js";
import { DEFAULT_HR_TRACE, DEFAULT_START } from "../sim/run-sim.js";
import { seededBytes, simFactoryCa, simFactoryKey, simKeys } from "../sim/sim-keys.js";
import { MOSQUITTO_INSTALL_HINT, mosquittoAvailable, startBroker, type RunningBroker } from "./broker.js";
import { MqttGateway } from "./gateway-mqtt.js";
import { MqttConnectError } from "./client.js";
import { safeText } from "../cli/safe-text.js";

export const gatewayFlags = {
  demo: { type: "boolean", help: "start a local mosquitto and one simulated wearable publishing to it" },
  broker: { type: "string", help: "broker address (loopback), HOST:PORT", valueName: "HOST:PORT" },
  ca: { type: "string", help: "CA certificate (PEM) that signed the broker's certificate", valueName: "FILE" },
  cert: { type: "string", help: "the gateway's client certificate (PEM) from the factory CA; its CN is its broker account (wearable provision writes keys/gateway-mqtt.crt)", valueName: "FILE" },
  key: { type: "string", help: "the private key (PEM) of --cert (keys/gateway-mqtt.key)", valueName: "FILE" },
  keys: { type: "string", help: "device and gateway keys (the file that `npm start -- --gateway-keys-out FILE` writes)", valueName: "FILE" },
  share: { type: "string", help: "MQTT shared-subscription group: instances with the same group split the stream", valueName: "GROUP" },
  db: { type: "string", help: "SQLite file the readings go to", default: "gateway.sqlite", valueName: "FILE" },
  seconds: { type: "number", help: "stop after N seconds (0: until Ctrl-C; --demo default 30)", min: 0, valueName: "N" },
  engine: { type: "string", help: "where the demo wearable's firmware runs", default: "xs", choices: ["xs", "node"] },
  "max-attempts": { type: "number", help: "give up (exit 1) after N failed connection attempts in a row (0: never)", default: 10, min: 0, integer: true, valueName: "N" },
  "give-up-after": { type: "number", help: "give up (exit 1) when the broker has been unreachable for S seconds (0: never)", default: 300, min: 0, valueName: "S" },
  json: { type: "boolean", help: "one JSON summary on stdout" },
} satisfies FlagSpecs;

/**
 * The one line the gateway exits with when it cannot connect: what is wrong and what to do.
 * `attempts` and `downForS` say how long it tried (omitted for a failure retrying cannot fix).
 */
export function connectFailureLine(e: MqttConnectError, where: string, user: string, attempts?: number, downForS?: number): string {
  const tried = attempts !== undefined && attempts > 1 ? ` (${attempts} attempts in ${Math.round(downForS ?? 0)} s)` : "";
  const code = safeText(e.code ?? e.message, 120);
  switch (e.kind) {
    case "refused-account":
      return `gateway: the broker at ${where} refused the gateway's account "${safeText(user, 64)}" (${code}): check that --cert is the gateway's certificate (CN ${safeText(user, 64)}) and that the broker's ACL has that account`;
    case "tls":
      return `gateway: TLS to the broker at ${where} failed (${code}): check that --ca is the CA that signed the broker's certificate, that --cert is a certificate from the factory CA the broker trusts (not expired), and that --broker is the broker's TLS port`;
    case "subscriptions-refused":
      return `gateway: the broker at ${where} refused the gateway's subscriptions: give the account "${safeText(user, 64)}" read access to wearable/+/frames and wearable/+/status in the broker's ACL`;
    case "protocol":
      return `gateway: the server at ${where} does not speak MQTT 3.1.1 (${safeText(e.message, 120)}): check --broker`;
    case "unreachable":
      return `gateway: cannot reach the broker at ${where}${tried} (${code}): start the broker or check --broker`;
    case "timeout":
      return `gateway: the broker at ${where} does not answer${tried} (${safeText(e.message, 120)}): check that --broker is the broker's MQTT port and that the broker is not overloaded`;
    case "refused":
      return `gateway: the broker at ${where} refused the connection${tried} (${safeText(e.message, 120)}): check the broker's log`;
    case "closed":
      return `gateway: the broker at ${where} keeps closing the connection${tried} (${code}): check the broker's log`;
  }
}

/** A device's status as printed: its own words (escaped), or the usual online/offline. */
export function presenceLine(device: string, state: string): string {
  if (state === "online" || state === "offline") return `gateway: device ${device} ${state}`;
  return `gateway: device ${device} sent the status "${safeText(state, 80)}"`;
}

export const GATEWAY_SUMMARY = "Receives frames over MQTT (TLS), verifies, deduplicates and stores them in SQLite, and acknowledges them (--demo: with a local broker and a simulated wearable).";
export const GATEWAY_USAGE = "npm run wearable -- gateway --demo | --broker 127.0.0.1:PORT --ca FILE --cert FILE --key FILE --keys FILE [flags]";

interface KeysFile {
  deviceId: string;
  signatureAlg: SignatureAlgorithm;
  deviceIdentityPublicKey: string;
  agreementAlg: KeyAgreementAlgorithm;
  gatewayPrivateKey: string;
}

function readKeys(path: string): KeysFile {
  if (!existsSync(path)) throw new Error(`gateway: ${path} does not exist (write one with: npm start -- --seconds 5 --gateway-keys-out FILE)`);
  let k: KeysFile;
  try {
    k = JSON.parse(readFileSync(path, "utf8")) as KeysFile;
  } catch {
    throw new Error(`gateway: ${path} is not JSON; it must be the file that \`npm start -- --gateway-keys-out FILE\` writes`);
  }
  for (const f of ["deviceId", "signatureAlg", "deviceIdentityPublicKey", "agreementAlg", "gatewayPrivateKey"] as const) {
    if (typeof k[f] !== "string") throw new Error(`gateway: ${path} has no "${f}"; it must be the file that \`npm start -- --gateway-keys-out FILE\` writes`);
  }
  return k;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function gatewayCommand(argv: string[]): Promise<number> {
  const { flags, positional, help } = parseFlags("gateway", gatewayFlags, argv);
  if (help) {
    console.log(formatHelp(GATEWAY_USAGE, GATEWAY_SUMMARY, gatewayFlags));
    return 0;
  }
  if (positional.length) throw new UsageError(`gateway: unexpected argument "${positional[0]}" (see --help)`);
  if (!flags.demo && (!flags.broker || !flags.ca || !flags.keys)) throw new UsageError("gateway: give --demo, or --broker, --ca, --cert, --key and --keys (see --help)");
  if (!flags.demo && (!flags.cert || !flags.key)) throw new UsageError("gateway: give --cert and --key: the gateway's client certificate from the factory CA and its key (the broker takes no passwords)");
  if (!flags.demo && !/^(127\.0\.0\.1|localhost):(\d{1,5})$/.test(flags.broker!)) throw new UsageError(`gateway: --broker must be 127.0.0.1:PORT (loopback), not "${flags.broker}"`);
  if (!sqliteAvailable()) throw new Error(`gateway: ${SQLITE_MISSING}`);
  const say = (line: string) => process.stderr.write(line + "\n");

  let broker: RunningBroker | null = null;
  let keys: KeysFile;
  let host = "127.0.0.1";
  let port = 0;
  let caPem: string;
  let certPem = "";
  let keyPem = "";
  const user = "gateway";
  const demoKeys = simKeys(7);
  let demoDeviceCertificate = "";
  if (flags.demo) {
    if (!mosquittoAvailable()) throw new Error(`gateway: ${MOSQUITTO_INSTALL_HINT}`);
    keys = {
      deviceId: toHex(demoKeys.deviceId),
      signatureAlg: demoKeys.signatureAlg,
      deviceIdentityPublicKey: toHex(demoKeys.identityPublicKey),
      agreementAlg: demoKeys.agreementAlg,
      gatewayPrivateKey: toHex(demoKeys.gatewayPrivateKey),
    };
    // The demo's TEST factory CA: it certifies the demo wearable's identity key and the gateway's.
    const ca = simFactoryCa(7);
    const gatewayIdentity = ca.issueClientIdentity(user);
    certPem = gatewayIdentity.certificatePem;
    keyPem = gatewayIdentity.keyPem;
    demoDeviceCertificate = toHex(ca.issueDeviceCertificate(keys.deviceId, demoKeys.identityPublicKey));
    broker = await startBroker({ clientCaPem: ca.certificatePem, gatewayUser: user });
    port = broker.port;
    caPem = broker.caPem;
    say(`gateway: started mosquitto on 127.0.0.1:${port} (mutual TLS, per-device ACLs; config in ${broker.dir})`);
  } else {
    const m = /^(127\.0\.0\.1|localhost):(\d{1,5})$/.exec(flags.broker!);
    if (!m) throw new UsageError(`gateway: --broker must be 127.0.0.1:PORT (loopback), not "${flags.broker}"`);
    host = "127.0.0.1";
    port = Number(m[2]);
    if (!existsSync(flags.ca!)) throw new Error(`gateway: CA file ${flags.ca} does not exist`);
    caPem = readFileSync(flags.ca!, "utf8");
    keys = readKeys(flags.keys!);
    for (const f of [flags.cert!, flags.key!]) if (!existsSync(f)) throw new Error(`gateway: ${f} does not exist (wearable provision writes the gateway's client certificate to keys/gateway-mqtt.crt and .key)`);
    certPem = readFileSync(flags.cert!, "utf8");
    keyPem = readFileSync(flags.key!, "utf8");
  }

  const gatewayPrivateKey = fromHex(keys.gatewayPrivateKey);
  const identity = fromHex(keys.deviceIdentityPublicKey);
  if (!gatewayPrivateKey || !identity) throw new Error("gateway: the keys file holds a key that is not hex");
  const gateway = new Gateway({ crypto: new NobleCrypto((n) => crypto.getRandomValues(new Uint8Array(n))), gatewayPrivateKey, agreementAlg: keys.agreementAlg });
  // A database this run creates is removed again if the gateway never reaches its broker.
  const dbCreated = !existsSync(flags.db!);
  const store = new SqliteStore(flags.db!);
  const discardStore = () => {
    store.close();
    if (dbCreated) removeDatabase(flags.db!);
  };
  // A new identity key under a known id (re-provisioned, or a replacement board): a new history.
  const deviceHex = keys.deviceId.toLowerCase();
  const identityRecord = store.registerIdentity(deviceHex, keys.deviceIdentityPublicKey.toLowerCase());
  if (identityRecord.changed) {
    say(`gateway: device ${deviceHex} has a new identity key (re-provisioned): its history starts again as generation ${identityRecord.generation}; readings stored before are kept`);
  }
  gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: identity, signatureAlg: keys.signatureAlg, generation: identityRecord.generation });
  gateway.importReplayState(store.loadReplayState());
  // Epoch keys, sealed at rest under a key derived from the gateway's private key: a restarted
  // gateway opens the frames still queued on devices under epochs it saw before.
  const sealingKey = storeSealingKey(gatewayPrivateKey);
  gateway.importEpochSecrets(store.loadEpochSecrets(sealingKey));
  const service = new GatewayService(gateway, store, {
    onNewEpoch: () => store.saveEpochSecrets(gateway.exportEpochSecrets(), sealingKey),
    onUnrecoverable: (device, detail) => say(`gateway: device ${device}: a message no one can open was acknowledged to let its queue move on (${safeText(detail)})`),
  });
  gateway.onDeviceReset((device) => store.resetDevice(device));
  service.importAckState(store.loadAckState());
  const persist = () => {
    store.saveAckState(service.exportAckState());
    store.saveReplayState(gateway.exportReplayState());
  };
  const where = `${host}:${port}`;
  let fatal: string | null = null;
  const dropsShown = new Set<string>();
  let gw: MqttGateway;
  // Ctrl-C while still connecting: nothing was stored.
  const onConnectSignal = () => {
    discardStore();
    say(`gateway: stopped before reaching the broker at ${where}; nothing was stored`);
    void (broker?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once("SIGINT", onConnectSignal);
  try {
    gw = await MqttGateway.start({
      host,
      port,
      caPem,
      serverName: "127.0.0.1",
      clientId: `gateway-${process.pid}`,
      certPem,
      keyPem,
      service,
      shareGroup: flags.share,
      retryFirstConnection: true,
      maxAttempts: flags["max-attempts"],
      giveUpAfterMs: flags["give-up-after"]! * 1000,
      onPresence: (device, state) => say(presenceLine(device, state)),
      onDropped: (kind, detail) => {
        // The first of each kind is shown; the rest are counted in the summary.
        if (dropsShown.has(kind)) return;
        dropsShown.add(kind);
        say(`gateway: ${kind === "retained" ? "ignored" : "dropped"} ${kind === "oversize" ? "an oversized" : kind === "malformed" ? "a malformed" : "a retained"} message (${safeText(detail, 160)}); further ones are only counted`);
      },
      onConnectionEvent: (e) => {
        if (e.kind === "lost") say(`gateway: lost the connection to the broker (${safeText(e.reason, 160)})${e.retryInMs === null ? "" : `; connecting again in ${(e.retryInMs / 1000).toFixed(1)} s`}`);
        else if (e.kind === "retrying") say(`gateway: attempt ${e.attempt} failed (${safeText(e.error.message, 160)}); next in ${(e.delayMs / 1000).toFixed(1)} s`);
        else if (e.kind === "connected" && e.reconnection) say("gateway: connected to the broker again and subscribed");
        else if (e.kind === "gave-up") fatal = connectFailureLine(e.error, where, user, e.attempts, e.downForMs / 1000);
      },
    });
  } catch (e) {
    discardStore();
    await broker?.stop();
    if (!(e instanceof MqttConnectError)) throw e;
    say(fatal ?? connectFailureLine(e, where, user));
    return 1;
  } finally {
    process.removeListener("SIGINT", onConnectSignal);
  }
  say(`gateway: subscribed${flags.share ? ` (shared group ${flags.share})` : ""}; storing into ${flags.db}`);

  let stopping = false;
  const onSignal = () => {
    stopping = true;
  };
  process.once("SIGINT", onSignal);
  const started = Date.now();
  const limitMs = (flags.seconds ?? (flags.demo ? 30 : 0)) * 1000;
  try {
    if (flags.demo) {
      const engine = await startEngine(flags.engine as EngineName, { notify() {}, log: (level, message) => (level === "error" || level === "warn" ? say(`device ${level}: ${message}`) : undefined) });
      try {
        await engine.boot({
          seed: 7,
          startWallTimeMs: Date.parse(DEFAULT_START),
          heartRate: DEFAULT_HR_TRACE,
          skinTempC: [{ atS: 0, celsius: 33.5 }],
          framePeriodS: 5,
          firmwareVersion: "1.0.0",
          mtu: 247,
          // A board provisioned earlier (its certificate from the demo's factory CA).
          provisioning: { ...demoKeys.provisioning, certificate: demoDeviceCertificate },
          factoryKey: simFactoryKey(simFactoryCa(7)),
          transport: "mqtt",
          mqtt: { host: "127.0.0.1", port, tlsServerName: "127.0.0.1", username: keys.deviceId, topicPrefix: `wearable/${keys.deviceId}`, caPem },
        });
        // The wearable runs ten times faster than real time.
        while (!stopping && fatal === null && (limitMs === 0 || Date.now() - started < limitMs)) {
          await engine.advance(1000);
          await sleep(100);
        }
      } finally {
        await engine.close();
      }
    } else {
      while (!stopping && fatal === null && (limitMs === 0 || Date.now() - started < limitMs)) {
        await sleep(1000);
        persist();
      }
    }
  } finally {
    process.removeListener("SIGINT", onSignal);
    await sleep(300);
    persist();
    gw.close();
    const c = service.counters;
    const summary = {
      db: flags.db,
      stored: c.stored,
      duplicates: c.duplicateMessages,
      rejected: c.rejected + c.malformed,
      acks: c.acks,
      devices: store.devices(),
      dropped: { oversize: gw.oversizeDropped, malformed: gw.malformedDropped, retained: gw.retainedIgnored, ignored: gw.ignored },
      reconnects: gw.reconnects,
      ...(fatal !== null ? { error: fatal } : {}),
    };
    store.close();
    await broker?.stop();
    if (flags.json) console.log(JSON.stringify(summary));
    else {
      const d = summary.dropped;
      const drops = d.oversize + d.malformed + d.retained ? `; dropped ${d.oversize} oversized, ${d.malformed} malformed, ${d.retained} retained` : "";
      say(`gateway: ${summary.stored} readings stored in ${summary.db}, ${summary.duplicates} duplicates dropped, ${summary.rejected} rejected, ${summary.acks} acknowledgements sent${drops}`);
    }
    // Last, so that it is the line one sees: why the gateway stopped.
    if (fatal !== null) say(fatal);
  }
  return fatal === null ? 0 : 1;
}
