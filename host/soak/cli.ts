/**
 * `npm run soak -- --hours H --seed N [--json]`: the soak in virtual time (host/soak/soak.ts).
 */
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { runSoak } from "./soak.js";

export const soakFlags = {
  hours: { type: "number", help: "simulated hours of link drops, reboots and power cuts (then a quiet half hour to drain)", default: 24, min: 0.1, max: 24 * 30, valueName: "H" },
  seed: { type: "number", help: "seed of the board, the keys and the fault times", default: 11, integer: true, min: 0, max: 2 ** 31 - 1 },
  json: { type: "boolean", help: "one JSON object on stdout" },
  transport: { type: "string", help: "links: BLE, MQTT (in-process broker), or both (BLE first, MQTT as fallback)", default: "both", choices: ["ble", "mqtt", "both"] },
  "wifi-drop-every": { type: "number", help: "mean minutes between Wi-Fi outages", default: 45, min: 1, valueName: "MIN" },
  "link-drop-every": { type: "number", help: "mean minutes between link drops", default: 20, min: 1, valueName: "MIN" },
  "reboot-every": { type: "number", help: "mean minutes between reboots", default: 180, min: 1, valueName: "MIN" },
  "power-cut-every": { type: "number", help: "mean minutes between power cuts", default: 240, min: 1, valueName: "MIN" },
} satisfies FlagSpecs;

export const SOAK_SUMMARY = "Runs one wearable for H simulated hours with link drops, reboots and power cuts, and counts produced, stored, lost and duplicate readings.";
export const SOAK_USAGE = "npm run soak -- [flags]   (npm run wearable -- soak [flags] is the same)";

export async function soakCommand(argv: string[]): Promise<number> {
  const { flags, positional, help } = parseFlags("soak", soakFlags, argv);
  if (help) {
    console.log(formatHelp(SOAK_USAGE, SOAK_SUMMARY, soakFlags));
    return 0;
  }
  if (positional.length) throw new UsageError(`soak: unexpected argument "${positional[0]}" (see --help)`);
  const report = runSoak({
    hours: flags.hours!,
    seed: flags.seed!,
    transport: flags.transport as "ble" | "mqtt" | "both",
    wifiDropEveryMin: flags["wifi-drop-every"],
    linkDropEveryMin: flags["link-drop-every"],
    rebootEveryMin: flags["reboot-every"],
    powerCutEveryMin: flags["power-cut-every"],
    // On stderr also with --json: stdout holds the one JSON document.
    progress: (line) => process.stderr.write(line + "\n"),
  });
  if (flags.json) console.log(JSON.stringify(report));
  else {
    console.log(
      `soak ${report.hours} h, seed ${report.seed}, over ${report.transport}: produced ${report.produced}, stored ${report.stored}, lost ${report.lost}, duplicates ${report.duplicates}; ` +
        `link drops ${report.linkDrops} (BLE ${report.bleDrops}, Wi-Fi ${report.wifiDrops}; ${report.mqttMessages} messages over MQTT), reboots ${report.reboots}, power cuts ${report.powerCuts} (${report.tornPowerCuts} torn a flash operation); ` +
        `resent and dropped by the gateway ${report.resentDropped}, readings recovered from the journal after restarts ${report.readingsRecovered}, lost at power cuts ${report.readingsLostAtPowerCut}; ` +
        `gateway restarts ${report.gatewayRestarts} (started ${report.gatewayLateMin} min late), forged acks refused ${report.forgedAcksRefused} of ${report.forgedAcksSent}, oversize dropped ${report.oversizeDropped}, garbage dropped ${report.garbageDropped}, retained ignored ${report.retainedIgnored}; ${report.wallSeconds} s`,
    );
  }
  return report.lost === 0 && report.duplicates === 0 && report.unrecoverable === 0 ? 0 : 1;
}

// Run directly (npm run soak).
if (process.argv[1] && /host[\\/]soak[\\/]cli\.ts$/.test(process.argv[1])) {
  soakCommand(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`soak ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = e instanceof UsageError ? 2 : 1;
    },
  );
}
