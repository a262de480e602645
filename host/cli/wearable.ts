/**
 * The project's command line: `npm run wearable -- <command> [flags]`.
 * Every command has `--help`; a usage error prints one line and exits with code 2.
 */
import { formatHelp, parseFlags, UsageError, type FlagSpecs, parseSpeed } from "./args.js";
import { DEFAULT_HR_TRACE, DEFAULT_START, parseHrTrace, runSim, type SimSummary } from "../sim/run-sim.js";
import { stopExplains, withRunScope, type RunScope } from "../sim/run-scope.js";
import { parseFaults, parseScenario } from "../lab/sim-options.js";
import { labCommand } from "../lab/lab-command.js";
import { SOAK_SUMMARY, SOAK_USAGE, soakCommand, soakFlags } from "../soak/cli.js";
import { GATEWAY_SUMMARY, GATEWAY_USAGE, gatewayCommand, gatewayFlags } from "../mqtt/gateway-cli.js";
import { EXPORT_SUMMARY, EXPORT_USAGE, exportCommand, exportFlags } from "../export/export-cli.js";
import { PATIENT_SUMMARY, PATIENT_USAGE, patientCommand, patientFlags } from "../export/patient-cli.js";
import { prepareSimMqtt, simDeviceIdHex, type PreparedMqtt } from "../mqtt/sim-transport.js";
import { simFactoryCa } from "../sim/sim-keys.js";
import { DashboardServer, shippedScenarioNames } from "../dashboard/server.js";
import { fleetCommand } from "../fleet/command.js";
import { WORKER_SUMMARY, WORKER_USAGE, workerCommand, workerFlags } from "../gateway/worker-command.js";
import { replayCommand } from "../replay/replay.js";
import { safeText } from "./safe-text.js";
import { commandCommand, parseCommandAt } from "../command/command-cli.js";
import { loadSimDevice, provisionCommand, type RegistrySimDevice } from "../provision/provision-cli.js";
import { otaCommand, releaseCommand, simUpdateFlags, simUpdatePlan } from "../ota/commands.js";
import { DEFAULT_THERMOMETER_CHIP, THERMOMETER_CHIP_NAMES, type SimThermometerChip } from "../../hal/sim/chips.js";

interface Command {
  summary: string;
  usage: string;
  flags: FlagSpecs;
  run(argv: string[]): Promise<number>;
}

const simFlags = {
  seconds: { type: "number", help: "stop after N simulated seconds (0 runs until Ctrl-C; Ctrl-C or SIGTERM ends any run normally: summary, cleanup, exit 0)", default: 0, min: 0, valueName: "N" },
  speed: { type: "string", help: "simulated seconds per wall second, or max", default: "1", valueName: "X|max" },
  seed: { type: "number", help: "seed for the virtual board and the keys", default: 1, integer: true, min: 0, max: 2 ** 31 - 1 },
  "run-nonce": { type: "string", help: "per-run entropy of the device's random source, 32 hex digits (default: fresh; a recording's keys.json has the run's, to repeat it)", valueName: "HEX" },
  transport: { type: "string", help: "link to the gateway: BLE, MQTT over TLS (Wi-Fi), or both (BLE first, MQTT as fallback)", default: "ble", choices: ["ble", "mqtt", "both"] },
  broker: { type: "string", help: "MQTT broker 127.0.0.1:PORT (default with mqtt/both: start a local mosquitto)", valueName: "HOST:PORT" },
  ca: { type: "string", help: "CA certificate (PEM) of --broker", valueName: "FILE" },
  json: { type: "boolean", help: "JSON Lines on stdout (one object per reading)" },
  engine: { type: "string", help: "where the firmware runs", default: "xs", choices: ["xs", "node"] },
  record: { type: "string", help: "write every message as sent on the wire, and the keys a verifier needs (no private key), to DIR (files 0600)", valueName: "DIR" },
  "gateway-keys-out": { type: "string", help: "write the device's public key and the gateway's PRIVATE key to FILE (0600), for `wearable gateway --keys FILE`", valueName: "FILE" },
  "frame-period": { type: "number", help: "seconds of readings per frame", default: 5, integer: true, min: 1, max: 60, valueName: "S" },
  "hr-trace": { type: "string", help: "simulated heart rate, SECONDS:BPM,... (linear between points)", valueName: "TRACE" },
  scenario: { type: "string", help: "a shipped wearer scenario (rest, sleep, walk, run, irregular, tachycardia, fever, off-body); replaces --hr-trace", valueName: "NAME" },
  fault: { type: "string", help: "inject faults: KIND[:ppg|thermometer|accelerometer]@SECONDS[+DURATION],... (nack, bus-stuck, saturated, fifo-overflow, off-body, temp-drift)", valueName: "LIST" },
  thermometer: { type: "string", help: "skin thermometer on the virtual board", default: DEFAULT_THERMOMETER_CHIP, choices: THERMOMETER_CHIP_NAMES },
  "lab-mode": { type: "boolean", help: "start the device in lab mode: raw PPG streamed in (encrypted) frames" },
  "ppg-out": { type: "string", help: "write the raw PPG received in lab mode to FILE (0600; lab CSV, docs/lab.md); implies --lab-mode", valueName: "FILE" },
  start: { type: "string", help: "simulated wall-clock start time (ISO 8601)", default: DEFAULT_START, valueName: "TIME" },
  "dashboard-port": { type: "number", help: "port of the live dashboard on 127.0.0.1 (0: a free one)", default: 0, integer: true, min: 0, max: 65535, valueName: "P" },
  "no-dashboard": { type: "boolean", help: "do not serve the live dashboard" },
  "dashboard-linger": { type: "number", help: "seconds the dashboard keeps serving the run's final state after it ends (Ctrl-C stops sooner)", default: 0, integer: true, min: 0, max: 86400, valueName: "S" },
  registry: { type: "string", help: "gateway registry written by `wearable provision` (with --device)", valueName: "FILE" },
  device: { type: "string", help: "run this provisioned device (it takes its bundle over the link at boot) instead of the seed's", valueName: "ID" },
  command: { type: "string", help: "a signed command file (wearable command --out) the central writes at SECONDS", valueName: "FILE@S" },
  "epoch-period": { type: "number", help: "seconds between the device's epoch (key) rotations", default: 3600, integer: true, min: 10, max: 86400 * 7, valueName: "S" },
  ...simUpdateFlags,
} satisfies FlagSpecs;

const commands: Record<string, Command> = {
  fleet: fleetCommand,
  replay: replayCommand,
  lab: labCommand,
  soak: { summary: SOAK_SUMMARY, usage: SOAK_USAGE, flags: soakFlags, run: soakCommand },
  gateway: { summary: GATEWAY_SUMMARY, usage: GATEWAY_USAGE, flags: gatewayFlags, run: gatewayCommand },
  "gateway-worker": { summary: WORKER_SUMMARY, usage: WORKER_USAGE, flags: workerFlags, run: workerCommand },
  export: { summary: EXPORT_SUMMARY, usage: EXPORT_USAGE, flags: exportFlags, run: exportCommand },
  patient: { summary: PATIENT_SUMMARY, usage: PATIENT_USAGE, flags: patientFlags, run: patientCommand },
  command: commandCommand,
  provision: provisionCommand,
  release: releaseCommand,
  ota: otaCommand,
  sim: {
    summary: "Runs one simulated wearable (firmware on the XS engine, virtual board) with the gateway, printing one line per verified reading.",
    usage: "npm run wearable -- sim [flags]   (npm start -- [flags] is the same)",
    flags: simFlags,
    async run(argv) {
      const { flags, positional, help } = parseFlags("sim", simFlags, argv);
      if (help) {
        console.log(formatHelp(this.usage, this.summary, this.flags));
        return 0;
      }
      if (positional.length) throw new UsageError(`sim: unexpected argument "${positional[0]}" (see --help)`);
      const speed = parseSpeed("sim", flags.speed);
      let heartRate = DEFAULT_HR_TRACE;
      if (flags["hr-trace"] !== undefined) {
        const parsed = parseHrTrace(flags["hr-trace"]);
        if (typeof parsed === "string") throw new UsageError(`sim: --hr-trace: ${parsed} (example: --hr-trace 0:70,60:110)`);
        heartRate = parsed;
      }
      const scenario = flags.scenario === undefined ? undefined : parseScenario(flags.scenario);
      if (typeof scenario === "string") throw new UsageError(`sim: --scenario: ${scenario}`);
      const faults = flags.fault === undefined ? undefined : parseFaults(flags.fault);
      if (typeof faults === "string") throw new UsageError(`sim: --fault: ${faults} (example: --fault nack@20+10,temp-drift@30)`);
      if (flags["run-nonce"] !== undefined && !/^[0-9a-f]{32}$/.test(flags["run-nonce"])) throw new UsageError(`sim: --run-nonce needs 32 lowercase hex digits, not "${flags["run-nonce"]}"`);
      if (Number.isNaN(Date.parse(flags.start!))) throw new UsageError(`sim: --start needs an ISO 8601 time such as ${DEFAULT_START}, not "${flags.start}"`);
      if ((flags.registry === undefined) !== (flags.device === undefined)) throw new UsageError("sim: --registry and --device go together");
      const device = flags.device === undefined ? undefined : loadSimDevice(flags.registry!, flags.device);
      const command = flags.command === undefined ? undefined : parseCommandAt(flags.command);
      if (typeof command === "string") throw new UsageError(`sim: --command: ${command}`);
      const update = simUpdatePlan(flags.update, flags["update-via"]);
      // Everything started from here (the broker, the dashboard, the engine) is released on every
      // way out; Ctrl-C or SIGTERM ends the run with its summary and exit code 0.
      return withRunScope(async (scope) => {
        const started = await startSimServices(scope, flags, device, scenario?.name ?? "", update?.[0]?.dir);
        if (started === null) return 0;
        const { mqtt, dashboard } = started;
        const summary = await runSim({
          stop: scope.signal,
          mqtt: mqtt?.options,
          hooks: dashboard?.hooks(),
          seconds: flags.seconds!,
          speed,
          seed: flags.seed!,
          runNonce: flags["run-nonce"],
          json: flags.json,
          engine: flags.engine as "xs" | "node",
          record: flags.record,
          gatewayKeysOut: flags["gateway-keys-out"],
          framePeriodS: flags["frame-period"]!,
          heartRate,
          scenario,
          faults,
          thermometerChip: flags.thermometer as SimThermometerChip,
          labMode: flags["lab-mode"] || flags["ppg-out"] !== undefined,
          ppgOut: flags["ppg-out"],
          centralMessages: command ? [command] : undefined,
          device,
          epochPeriodS: flags["epoch-period"],
          update,
          startIso: new Date(Date.parse(flags.start!)).toISOString(),
          firmwareVersion: "1.0.0",
          out: (line) => process.stdout.write(line + "\n"),
          err: (line) => process.stderr.write(line + "\n"),
        });
        process.stderr.write(simSummaryLine(summary) + "\n");
        if (dashboard) await dashboard.linger(flags["dashboard-linger"]!, scope.signal, (line) => process.stderr.write(`sim: ${line}\n`));
        return summary.firmware && summary.firmware.state === "unprovisioned" ? 1 : 0;
      }, { warn: (line) => process.stderr.write(`sim: ${line}\n`) });
    },
  },
};

/**
 * The broker (with --transport mqtt or both, unless --broker names one) and the live dashboard,
 * each held by the run's scope; null when a stop came while they were starting.
 */
async function startSimServices(
  scope: RunScope,
  flags: { transport?: string; seed?: number; broker?: string; ca?: string; "no-dashboard": boolean; "dashboard-port"?: number; engine?: string },
  device: RegistrySimDevice | undefined,
  scenario: string,
  updateDir: string | undefined,
): Promise<{ mqtt: PreparedMqtt | null; dashboard: DashboardServer | null } | null> {
  const say = (line: string) => process.stderr.write(line + "\n");
  try {
    const mqtt =
      flags.transport === "ble"
        ? null
        : scope.hold(
            "MQTT broker",
            await prepareSimMqtt(
              simDeviceIdHex(flags.seed!, device),
              // The run's factory CA: the broker trusts the client certificates it issues (the device's at provisioning, the gateway's).
              device ? device.ca : simFactoryCa(flags.seed!),
              { transport: flags.transport as "mqtt" | "both", broker: flags.broker, ca: flags.ca, gatewayCert: device?.gatewayClient.certFile, gatewayKey: device?.gatewayClient.keyFile },
              say,
            ),
            (m) => m.stop(),
          );
    const dashboard = flags["no-dashboard"]
      ? null
      : scope.hold("dashboard", await DashboardServer.start({ port: flags["dashboard-port"]!, engine: flags.engine!, firmwareVersion: "1.0.0", scenarios: await shippedScenarioNames(), scenario, updateDir }), (d) => d.close());
    if (dashboard) say(`sim: live dashboard at ${dashboard.url}`);
    return { mqtt, dashboard };
  } catch (e) {
    // Ctrl-C also reaches the helpers being started (openssl, mosquitto): then it is a stop, not a failure.
    if (!(e instanceof UsageError) && (await stopExplains(scope.signal))) {
      say("sim: stopped before the device booted");
      return null;
    }
    throw e;
  }
}

function simSummaryLine(summary: SimSummary): string {
  const rejected = Object.entries(summary.rejected).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  return (
    `sim: ${summary.virtualSeconds.toFixed(0)} simulated s in ${summary.wallSeconds.toFixed(1)} s on ${summary.engine}; ` +
    `${summary.verifiedReadings} readings verified, ${summary.messages} messages, rejected: ${rejected}` +
    (summary.firmware ? `; device ${summary.firmware.state}${summary.firmware.detail ? " (" + safeText(summary.firmware.detail) + ")" : ""}` : "") +
    (summary.firmware?.sensing ? `; sensor self-test ${summary.firmware.sensing.selfTest}, thermometer ${summary.firmware.sensing.thermometer}` : "")
  );
}

function mainHelp(): string {
  const lines = ["usage: npm run wearable -- <command> [flags]", "", "commands:"];
  const width = Math.max(...Object.keys(commands).map((n) => n.length)) + 2;
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(width)}${c.summary}`);
  lines.push("", "Run a command with --help for its flags.");
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(mainHelp());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${name}" (commands: ${Object.keys(commands).join(", ")}; see --help)`);
  return command.run(rest);
}

// A reader that stops early (`| head`) closes the pipe: that ends the output, it is not an error.
// Further output is dropped and the command stops as on SIGTERM (a run releases what it started).
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code !== "EPIPE") throw e;
  process.stdout.write = () => true;
  process.kill(process.pid, "SIGTERM");
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`wearable ${e.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`wearable: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    }
  },
);
