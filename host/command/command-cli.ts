/**
 * `wearable command`: signs a command with a role key and either sends it to a simulated wearable
 * (a short simulator run; prints the device's signed result, verified by the gateway) or writes
 * the signed command to a file (for `wearable sim --command FILE@SECONDS` or a real central).
 */
import { existsSync, readFileSync } from "node:fs";
import { writeSecretFile } from "../fs/private-files.js";
import { join } from "node:path";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { fromHex } from "../../protocol/bytes.js";
import type { CborKey, CborValue } from "../../protocol/cbor.js";
import { COMMAND_OPS, COMMAND_POLICY, PendingCommands, ROLES, isCommandOp, isRole, parseCommandArgs, signCommand } from "../../protocol/command.js";
import type { Command, CommandOp, ResultFacts, ResultProblem, Role } from "../../protocol/command.js";
import type { SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { verifyLogChain } from "../../protocol/security-log.js";
import { NodeCrypto } from "../crypto/node-crypto.js";
import type { GatewayEvent } from "../gateway/gateway.js";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim } from "../sim/run-sim.js";
import { simKeys } from "../sim/sim-keys.js";

export const commandFlags = {
  op: { type: "string", help: "operation", choices: COMMAND_OPS, valueName: "OP" },
  args: { type: "string", help: 'arguments as JSON, e.g. \'{"seconds":10}\'', default: "{}", valueName: "JSON" },
  role: { type: "string", help: "role key that signs (default: the role the policy allows for the op)", choices: ROLES, valueName: "ROLE" },
  id: { type: "number", help: "command id: above the last one the device accepted from the role (ids keep increasing per role, across factory resets and re-provisioning)", default: 1, integer: true, min: 1, max: 0x7fffffff, valueName: "N" },
  "expires-in": { type: "number", help: "seconds (device time) the command stays valid after it is sent", default: 300, integer: true, min: 1, max: 86400 * 30, valueName: "S" },
  keys: { type: "string", help: "folder with role keys written by `wearable provision` (default: the simulator's test keys from --seed)", valueName: "DIR" },
  seed: { type: "number", help: "seed of the simulated wearable (and of its test keys)", default: 1, integer: true, min: 0, max: 2 ** 31 - 1 },
  at: { type: "number", help: "simulated second at which the central writes the command", default: 3, min: 0, max: 86400, valueName: "S" },
  engine: { type: "string", help: "where the simulated firmware runs", default: "xs", choices: ["xs", "node"] },
  out: { type: "string", help: "write the signed command to FILE (mode 0600) instead of sending it (needs --device and --expires)", valueName: "FILE" },
  device: { type: "string", help: "target device id, 16 hex digits (default: the simulated device)", valueName: "HEX" },
  expires: { type: "string", help: "absolute expiry (ISO 8601) for --out", valueName: "TIME" },
} satisfies FlagSpecs;

export interface RoleKeyFile {
  role: Role;
  alg: SignatureAlgorithm;
  privateKey: string;
  publicKey: string;
}

/** Loads `<dir>/<role>.test-key.json` (written by `wearable provision`). */
export function loadRoleKeyFile(dir: string, role: Role): RoleKeyFile {
  const file = join(dir, `${role}.test-key.json`);
  if (!existsSync(file)) throw new Error(`no ${role} key in ${dir} (expected ${file}); run \`npm run wearable -- provision\` first`);
  let k: RoleKeyFile;
  try {
    k = JSON.parse(readFileSync(file, "utf8")) as RoleKeyFile;
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${String(e)}); re-run \`npm run wearable -- provision\``);
  }
  if (k.role !== role || (k.alg !== "ES256" && k.alg !== "EdDSA") || typeof k.privateKey !== "string") throw new Error(`${file} is not a ${role} key file`);
  return k;
}

function jsonToCbor(v: unknown, where: string): CborValue {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new UsageError(`command: --args: ${where} must be an integer`);
    return v;
  }
  if (typeof v === "string" || typeof v === "boolean" || v === null) return v;
  throw new UsageError(`command: --args: ${where} must be a number, string or boolean`);
}

export function parseArgsJson(op: CommandOp, text: string) {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    throw new UsageError(`command: --args is not JSON: ${text}`);
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) throw new UsageError("command: --args must be a JSON object");
  const m = new Map<CborKey, CborValue>();
  for (const [k, v] of Object.entries(obj)) m.set(k, jsonToCbor(v, k));
  const r = parseCommandArgs(op, m);
  if (!r.ok) throw new UsageError(`command: --args: ${r.detail}`);
  return r.args;
}

/**
 * Picks the result that answers a command sent (PendingCommands: same device, role, id and op,
 * not older than the command, first answer only); every other result is returned with the reason
 * it was not taken.
 */
export function answerOf<R extends ResultFacts>(pending: PendingCommands, results: readonly R[]): { answer: R | null; ignored: { result: R; problem: ResultProblem; detail: string }[] } {
  let answer: R | null = null;
  const ignored: { result: R; problem: ResultProblem; detail: string }[] = [];
  for (const r of results) {
    const m = pending.check(r);
    if (m.ok && answer === null) answer = r;
    else if (!m.ok) ignored.push({ result: r, problem: m.problem, detail: m.detail });
  }
  return { answer, ignored };
}

export async function runCommandCli(argv: string[], usage: string, summary: string): Promise<number> {
  const { flags, positional, help } = parseFlags("command", commandFlags, argv);
  if (help) {
    console.log(formatHelp(usage, summary, commandFlags));
    return 0;
  }
  if (positional.length) throw new UsageError(`command: unexpected argument "${positional[0]}" (see --help)`);
  if (!flags.op || !isCommandOp(flags.op)) throw new UsageError(`command: --op is required (${COMMAND_OPS.join(", ")})`);
  const op = flags.op;
  const args = parseArgsJson(op, flags.args!);
  const role: Role = flags.role !== undefined && isRole(flags.role) ? flags.role : COMMAND_POLICY[op][0];
  const seed = flags.seed!;
  const sim = simKeys(seed);
  let key: { alg: SignatureAlgorithm; privateKey: Uint8Array };
  if (flags.keys !== undefined) {
    const k = loadRoleKeyFile(flags.keys, role);
    key = { alg: k.alg, privateKey: fromHex(k.privateKey)! };
  } else key = { alg: sim.roles[role].alg, privateKey: sim.roles[role].privateKey };
  const crypto = new NodeCrypto();

  let deviceId = sim.deviceId;
  if (flags.device !== undefined) {
    const d = fromHex(flags.device);
    if (d === null || d.length !== 8) throw new UsageError(`command: --device needs 16 hex digits, not "${flags.device}"`);
    deviceId = d;
  }

  if (flags.out !== undefined) {
    if (flags.expires === undefined || Number.isNaN(Date.parse(flags.expires))) throw new UsageError("command: --out needs --expires TIME (ISO 8601, device time)");
    const c: Command = { role, deviceId, commandId: flags.id!, expiresMs: Date.parse(flags.expires), args };
    // A signed command is a bearer credential until it expires: mode 0600.
    writeSecretFile(flags.out, signCommand(crypto, key.alg, key.privateKey, c));
    process.stderr.write(`command: ${role} ${op} #${c.commandId} for device ${flags.device ?? Buffer.from(deviceId).toString("hex")} written to ${flags.out}\n`);
    return 0;
  }

  const startMs = Date.parse(DEFAULT_START);
  const c: Command = { role, deviceId, commandId: flags.id!, expiresMs: startMs + Math.round((flags.at! + flags["expires-in"]!) * 1000), args };
  const signed = signCommand(crypto, key.alg, key.privateKey, c);
  const pending = new PendingCommands();
  pending.sent({ deviceId, role, commandId: c.commandId, op, expiresMs: c.expiresMs, issuedAtMs: startMs + Math.round(flags.at! * 1000) });
  const results: Extract<GatewayEvent, { kind: "result" }>[] = [];
  await runSim({
    seconds: Math.ceil(flags.at!) + 8,
    speed: "max",
    seed,
    json: true,
    engine: flags.engine as "xs" | "node",
    framePeriodS: 5,
    heartRate: DEFAULT_HR_TRACE,
    startIso: DEFAULT_START,
    firmwareVersion: "1.0.0",
    centralMessages: [{ atS: flags.at!, bytes: signed }],
    hooks: {
      gatewayEvent: (e) => {
        if (e.kind === "result") results.push(e);
      },
    },
    out: () => {},
    err: (line) => {
      if (line.includes("device error")) process.stderr.write(line + "\n");
    },
  });
  const { answer: r, ignored } = answerOf(pending, results);
  for (const x of ignored) process.stderr.write(`command: ignored a result (${x.problem}): ${x.detail}\n`);
  if (!r) {
    process.stderr.write(`command: no result answers ${role} ${op} #${c.commandId} (none came, or only stale, duplicate or unrelated ones)\n`);
    return 1;
  }
  const out: Record<string, unknown> = { type: "result", sealed: "decrypted with the epoch key", signature: "verified with the device identity key", answers: `${role} ${op} #${c.commandId}`, ...r };
  delete out.kind;
  if (op === "read-security-log" && r.status === "ok") {
    const entries = ((r.body.entries as string[]) ?? []).map((h) => fromHex(h)!);
    const check = verifyLogChain((d) => crypto.sha256(d), entries, { next: Number(r.body.next), hash: fromHex(String(r.body.head))! });
    out.chain = check.ok ? "verified" : `BROKEN at entry ${check.index}: ${check.problem}`;
    if (check.ok) {
      out.entries = check.entries.map((e) => ({
        seq: e.seq,
        time: new Date(e.timeMs).toISOString(),
        kind: e.kind,
        detail: e.detail,
        ...(e.summary
          ? { count: e.summary.count, since: new Date(e.summary.firstMs).toISOString(), total: e.summary.total, ...(e.summary.carriedFrom !== undefined ? { carriedFrom: e.summary.carriedFrom } : {}) }
          : {}),
      }));
    }
  }
  console.log(JSON.stringify(out, null, 2));
  return r.status === "ok" ? 0 : 1;
}

export const commandCommand = {
  summary: "Signs a command with a role key and sends it to a simulated wearable (prints its signed result), or writes it to a file.",
  usage: "npm run wearable -- command --op OP [--args JSON] [--role ROLE] [--id N] [flags]",
  flags: commandFlags as FlagSpecs,
  run(argv: string[]): Promise<number> {
    return runCommandCli(argv, this.usage, this.summary);
  },
};

/** Parses `FILE@SECONDS` of `wearable sim --command`. */
export function parseCommandAt(text: string): { atS: number; bytes: Uint8Array } | string {
  const at = text.lastIndexOf("@");
  if (at <= 0) return `"${text}" is not FILE@SECONDS`;
  const atS = Number(text.slice(at + 1));
  if (!Number.isFinite(atS) || atS < 0) return `"${text.slice(at + 1)}" is not a number of seconds`;
  const file = text.slice(0, at);
  if (!existsSync(file)) return `${file} does not exist (write one with \`npm run wearable -- command --out FILE ...\`)`;
  return { atS, bytes: new Uint8Array(readFileSync(file)) };
}
