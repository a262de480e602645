/**
 * Strict command-line flags: every flag is declared with its type; a mistyped flag or a bad
 * value is a `UsageError` whose message is the one line the user sees (exit code 2).
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export type FlagSpec =
  | { type: "boolean"; help: string }
  | { type: "string"; help: string; default?: string; choices?: readonly string[]; valueName?: string }
  | { type: "number"; help: string; default?: number; min?: number; max?: number; integer?: boolean; valueName?: string };

export type FlagSpecs = Record<string, FlagSpec>;

export type ParsedFlags<S extends FlagSpecs> = {
  [K in keyof S]: S[K] extends { type: "boolean" } ? boolean : S[K] extends { type: "number" } ? number | undefined : string | undefined;
};

export function parseFlags<S extends FlagSpecs>(command: string, specs: S, argv: readonly string[]): { flags: ParsedFlags<S>; positional: string[]; help: boolean } {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    out[name] = spec.type === "boolean" ? false : spec.default;
  }
  const positional: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq >= 0 ? eq : undefined);
    const spec = specs[name];
    if (!spec) {
      const known = Object.keys(specs).map((k) => `--${k}`).join(", ");
      throw new UsageError(`${command}: unknown flag --${name} (known flags: ${known || "none"}; see --help)`);
    }
    if (spec.type === "boolean") {
      if (eq >= 0) throw new UsageError(`${command}: --${name} takes no value`);
      out[name] = true;
      continue;
    }
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith("--"))) throw new UsageError(`${command}: --${name} needs a value (${spec.valueName ?? spec.type})`);
    if (spec.type === "string") {
      if (spec.choices && !spec.choices.includes(value)) {
        throw new UsageError(`${command}: --${name} must be one of ${spec.choices.join(", ")}, not "${value}"`);
      }
      out[name] = value;
    } else {
      const n = Number(value);
      if (value.trim() === "" || !Number.isFinite(n)) throw new UsageError(`${command}: --${name} needs a number, not "${value}"`);
      if (spec.integer && !Number.isInteger(n)) throw new UsageError(`${command}: --${name} needs a whole number, not "${value}"`);
      if (spec.min !== undefined && n < spec.min) throw new UsageError(`${command}: --${name} must be at least ${spec.min}, not ${value}`);
      if (spec.max !== undefined && n > spec.max) throw new UsageError(`${command}: --${name} must be at most ${spec.max}, not ${value}`);
      out[name] = n;
    }
  }
  return { flags: out as ParsedFlags<S>, positional, help };
}

export function formatHelp(usage: string, summary: string, specs: FlagSpecs): string {
  const lines = [`usage: ${usage}`, "", summary, ""];
  const entries = Object.entries(specs);
  if (entries.length) {
    lines.push("flags:");
    for (const [name, spec] of entries) {
      const value = spec.type === "boolean" ? "" : ` ${spec.valueName ?? (spec.type === "number" ? "N" : "VALUE")}`;
      const def = spec.type !== "boolean" && spec.default !== undefined ? ` (default ${spec.default})` : "";
      const choices = spec.type === "string" && spec.choices ? ` [${spec.choices.join("|")}]` : "";
      lines.push(`  --${name}${value}`.padEnd(28) + `${spec.help}${choices}${def}`);
    }
    lines.push(`  --help`.padEnd(28) + "show this help");
  }
  return lines.join("\n");
}

/** `--speed`: "max", or a real-time multiple above 0 and at most 1000. */
export function parseSpeed(command: string, value: string | undefined): number | "max" {
  if (value === "max") return "max";
  const speed = Number(value);
  if (!Number.isFinite(speed) || speed <= 0 || speed > 1000) throw new UsageError(`${command}: --speed must be a number above 0 and at most 1000, or max, not "${value}"`);
  return speed;
}
