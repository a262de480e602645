/**
 * `npm run wearable -- gateway-worker`: one gateway worker on the clustered broker (RabbitMQ,
 * docs/scaling.md) storing into PostgreSQL. Run several, each with its own `--worker K/W`: they
 * share the device stream as competing consumers and one database. Device identities come from the
 * store's `device_keys` (registered at provisioning); the gateway's private key from `--keys`.
 */
import { existsSync, readFileSync } from "node:fs";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { fromHex } from "../../protocol/bytes.js";
import type { KeyAgreementAlgorithm } from "../../hal/contracts/crypto.js";
import { BatchGateway } from "./batch-gateway.js";
import { AmqpGatewayWorker, redact } from "./amqp-worker.js";
import { sharedStoreOf } from "./shared-store.js";

export const workerFlags = {
  amqp: { type: "string", help: "AMQP URLs of the cluster's nodes, comma-separated (amqp://USER:PASS@127.0.0.1:PORT)", valueName: "URLS" },
  store: { type: "string", help: "the shared store: postgres://USER@HOST:PORT/DB", valueName: "URL" },
  keys: { type: "string", help: "JSON file with the gateway's private key: gatewayPrivateKey (hex) and agreementAlg (the file `npm start -- --gateway-keys-out FILE` writes)", valueName: "FILE" },
  worker: { type: "string", help: "this worker's index and the number of workers, K/W: which partitions it takes first", default: "0/1", valueName: "K/W" },
  partitions: { type: "number", help: "partition queues of the cluster (wearable.frames.0 ...)", default: 8, integer: true, min: 1, max: 256, valueName: "N" },
  batch: { type: "number", help: "deliveries per batch (one database transaction each) at most", default: 256, integer: true, min: 1, max: 4096, valueName: "N" },
  "store-wait": { type: "number", help: "seconds to wait for the store at start when it cannot be reached (0: fail at once)", default: 60, min: 0, max: 3600, valueName: "S" },
  seconds: { type: "number", help: "stop after N seconds (0: until Ctrl-C or SIGTERM)", default: 0, min: 0, valueName: "N" },
  json: { type: "boolean", help: "one JSON summary on stdout at the end" },
} satisfies FlagSpecs;

export const WORKER_SUMMARY = "A gateway worker on the clustered broker (AMQP) storing into PostgreSQL; several share the stream.";
export const WORKER_USAGE = "npm run wearable -- gateway-worker --amqp URLS --store postgres://... --keys FILE [--worker K/W] [flags]";

/** The gateway's private key and agreement algorithm from a keys file. */
export function readGatewayKey(path: string): { gatewayPrivateKey: Uint8Array; agreementAlg: KeyAgreementAlgorithm } {
  if (!existsSync(path)) throw new UsageError(`gateway-worker: --keys ${path} does not exist (write one with: npm start -- --seconds 5 --gateway-keys-out FILE)`);
  let k: { gatewayPrivateKey?: unknown; agreementAlg?: unknown };
  try {
    k = JSON.parse(readFileSync(path, "utf8")) as typeof k;
  } catch {
    throw new UsageError(`gateway-worker: ${path} is not JSON; it must hold gatewayPrivateKey and agreementAlg`);
  }
  const key = typeof k.gatewayPrivateKey === "string" ? fromHex(k.gatewayPrivateKey) : null;
  if (key === null) throw new UsageError(`gateway-worker: ${path} has no hex "gatewayPrivateKey"`);
  if (k.agreementAlg !== "P-256" && k.agreementAlg !== "X25519") throw new UsageError(`gateway-worker: ${path} has no valid "agreementAlg" (P-256 or X25519)`);
  return { gatewayPrivateKey: key, agreementAlg: k.agreementAlg as KeyAgreementAlgorithm };
}

export async function workerCommand(argv: string[]): Promise<number> {
  const { flags, positional, help } = parseFlags("gateway-worker", workerFlags, argv);
  if (help) {
    console.log(formatHelp(WORKER_USAGE, WORKER_SUMMARY, workerFlags));
    return 0;
  }
  if (positional.length) throw new UsageError(`gateway-worker: unexpected argument "${positional[0]}" (see --help)`);
  if (!flags.amqp || !flags.store || !flags.keys) throw new UsageError("gateway-worker: give --amqp, --store and --keys (see --help)");
  const urls = flags.amqp.split(",").map((u) => u.trim()).filter(Boolean);
  for (const u of urls) if (!/^amqps?:\/\//.test(u)) throw new UsageError(`gateway-worker: --amqp takes amqp:// or amqps:// URLs, not "${redact(u)}"`);
  if (!/^postgres(ql)?:\/\//.test(flags.store)) throw new UsageError(`gateway-worker: --store must be a postgres:// URL, not "${flags.store}" (the embedded SQLite store serves one gateway process: use \`wearable gateway --db FILE\`)`);
  const m = /^(\d+)\/(\d+)$/.exec(flags.worker!);
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new UsageError(`gateway-worker: --worker must be K/W with 0 <= K < W, not "${flags.worker}"`);
  const index = Number(m[1]);
  const workers = Number(m[2]);
  const { gatewayPrivateKey, agreementAlg } = readGatewayKey(flags.keys);
  const say = (line: string) => process.stderr.write(line + "\n");

  // Loaded here: the other commands need no PostgreSQL client.
  const { PostgresStore } = await import("./store-postgres.js");
  // A worker (re)started while the database is away waits for it, as it does after a failed commit.
  const waitUntil = Date.now() + flags["store-wait"]! * 1000;
  let store: Awaited<ReturnType<typeof PostgresStore.open>>;
  for (let attempt = 0; ; attempt++) {
    try {
      store = await PostgresStore.open(flags.store);
      break;
    } catch (e) {
      if (Date.now() >= waitUntil) throw e;
      if (attempt === 0) say(`gateway worker ${index}: ${(e as Error).message}; waiting for it (up to ${flags["store-wait"]} s)`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const shared = sharedStoreOf(store);
  const gateway = new BatchGateway({
    store: shared,
    gatewayPrivateKey,
    agreementAlg,
    onUnrecoverable: (device, detail) => say(`gateway worker ${index}: device ${device}: a message no one can open was acknowledged to let its queue move on (${detail})`),
  });
  const partitions = Array.from({ length: flags.partitions! }, (_, i) => `wearable.frames.${i}`);
  const worker = await AmqpGatewayWorker.start({
    urls,
    partitions,
    index,
    workers,
    gateway,
    batchSize: flags.batch,
    storeReady: (stop) => shared.ready(stop),
    log: say,
  });
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  process.once("SIGINT", () => stop());
  process.once("SIGTERM", () => stop());
  const limit = flags.seconds! > 0 ? setTimeout(() => stop(), flags.seconds! * 1000) : null;
  await stopped;
  if (limit) clearTimeout(limit);
  await worker.close();
  await store.close();
  const c = gateway.counters();
  const summary = { worker: `${index}/${workers}`, ...worker.stats, verified: c.messages - c.rejected - c.malformed, rejected: c.rejected + c.malformed, duplicateMessages: c.duplicateMessages, acks: c.acks, rebuilds: gateway.rebuilds };
  if (flags.json) process.stdout.write(JSON.stringify(summary) + "\n");
  else say(`gateway worker ${index}: ${summary.stored} readings stored, ${summary.alreadyStored} already stored, ${summary.deliveries} deliveries (${summary.redeliveries} redelivered), ${summary.batches} batches, ${summary.storeFailures} store failures`);
  return 0;
}
