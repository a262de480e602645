/**
 * The project's command line: `npm run wearable -- <command> [flags]`.
 * Every command has `--help`; a usage error prints one line and exits with code 2.
 */
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "./args.js";
import { DEFAULT_HR_TRACE, DEFAULT_START, parseHrTrace, runSim } from "../sim/run-sim.js";

interface Command {
  summary: string;
  usage: string;
  flags: FlagSpecs;
  run(argv: string[]): Promise<number>;
}

const simFlags = {
  seconds: { type: "number", help: "stop after N simulated seconds (0 runs until Ctrl-C)", default: 0, min: 0, valueName: "N" },
  speed: { type: "string", help: "simulated seconds per wall second, or max", default: "1", valueName: "X|max" },
  seed: { type: "number", help: "seed for the virtual board and the keys", default: 1, integer: true, min: 0, max: 2 ** 31 - 1 },
  json: { type: "boolean", help: "JSON Lines on stdout (one object per reading)" },
  engine: { type: "string", help: "where the firmware runs", default: "xs", choices: ["xs", "node"] },
  record: { type: "string", help: "write every message as sent on the wire, and the keys a verifier needs, to DIR", valueName: "DIR" },
  "frame-period": { type: "number", help: "seconds of readings per frame", default: 5, integer: true, min: 1, max: 60, valueName: "S" },
  "hr-trace": { type: "string", help: "simulated heart rate, SECONDS:BPM,... (linear between points)", valueName: "TRACE" },
  start: { type: "string", help: "simulated wall-clock start time (ISO 8601)", default: DEFAULT_START, valueName: "TIME" },
} satisfies FlagSpecs;

const commands: Record<string, Command> = {
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
      let speed: number | "max";
      if (flags.speed === "max") speed = "max";
      else {
        speed = Number(flags.speed);
        if (!Number.isFinite(speed) || speed <= 0 || speed > 1000) throw new UsageError(`sim: --speed must be a number above 0 and at most 1000, or max, not "${flags.speed}"`);
      }
      let heartRate = DEFAULT_HR_TRACE;
      if (flags["hr-trace"] !== undefined) {
        const parsed = parseHrTrace(flags["hr-trace"]);
        if (typeof parsed === "string") throw new UsageError(`sim: --hr-trace: ${parsed} (example: --hr-trace 0:70,60:110)`);
        heartRate = parsed;
      }
      if (Number.isNaN(Date.parse(flags.start!))) throw new UsageError(`sim: --start needs an ISO 8601 time such as ${DEFAULT_START}, not "${flags.start}"`);
      const summary = await runSim({
        seconds: flags.seconds!,
        speed,
        seed: flags.seed!,
        json: flags.json,
        engine: flags.engine as "xs" | "node",
        record: flags.record,
        framePeriodS: flags["frame-period"]!,
        heartRate,
        startIso: new Date(Date.parse(flags.start!)).toISOString(),
        firmwareVersion: "1.0.0",
        out: (line) => process.stdout.write(line + "\n"),
        err: (line) => process.stderr.write(line + "\n"),
      });
      const rejected = Object.entries(summary.rejected).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
      process.stderr.write(
        `sim: ${summary.virtualSeconds.toFixed(0)} simulated s in ${summary.wallSeconds.toFixed(1)} s on ${summary.engine}; ` +
          `${summary.verifiedReadings} readings verified, ${summary.messages} messages, rejected: ${rejected}` +
          (summary.firmware ? `; device ${summary.firmware.state}${summary.firmware.detail ? " (" + summary.firmware.detail + ")" : ""}` : "") +
          "\n",
      );
      return summary.firmware && summary.firmware.state === "unprovisioned" ? 1 : 0;
    },
  },
};

function mainHelp(): string {
  const lines = ["usage: npm run wearable -- <command> [flags]", "", "commands:"];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(12)}${c.summary}`);
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
