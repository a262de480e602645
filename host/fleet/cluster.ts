/**
 * The fleet on the cluster (`fleet --broker cluster --store postgres --gateways W`): for the run it
 * starts PostgreSQL (host/db/postgres-server.ts), a RabbitMQ cluster (host/cluster/rabbitmq.ts)
 * whose MQTT/TLS listeners the devices connect to, and W gateway worker processes
 * (`wearable gateway-worker`, host/gateway/worker-command.ts) sharing the stream and the store; it
 * registers every device's identity in the store (as provisioning does), applies the scheduled
 * faults, and at the end counts what the store holds.
 *
 * Faults (`--faults`, comma-separated), each at simulated second S of the schedule, the part down
 * for D seconds of wall time (a restart takes wall time whatever the run's speed):
 * `kill-node[:I]@S+D` SIGKILLs broker node I (default 1) at S and starts it again D seconds later;
 * `kill-worker[:K]@S+D` SIGKILLs gateway worker K (default 0) and starts it again; `stop-db@S+D`
 * stops PostgreSQL and starts it again with the same data.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { KeyAgreementAlgorithm } from "../../hal/contracts/crypto.js";
import { toHex } from "../../protocol/bytes.js";
import { RABBITMQ_INSTALL_HINT, rabbitmqAvailable, startRabbitCluster, type RunningRabbitCluster } from "../cluster/rabbitmq.js";
import { POSTGRES_INSTALL_HINT, postgresAvailable, startPostgres, type RunningPostgres } from "../db/postgres-server.js";
import type { PostgresStore } from "../gateway/store-postgres.js";
import { repoRoot } from "../xs/build.js";
import { GATEWAY_WORKER_NODE_OPTIONS } from "../gateway/worker-node-options.js";

export type ClusterFaultKind = "kill-node" | "kill-worker" | "stop-db";

export interface ClusterFault {
  kind: ClusterFaultKind;
  /** Node index (kill-node) or worker index (kill-worker); 0 for stop-db. */
  target: number;
  /** When, in simulated seconds from the start of the schedule. */
  atS: number;
  /** How long the part stays down, in wall seconds (then it is started again). */
  forS: number;
}

export const CLUSTER_FAULT_SYNTAX = "kill-node[:I]@S+D, kill-worker[:K]@S+D or stop-db@S+D (at simulated second S, down for D wall seconds)";

/** Parses one `--fault` value; throws a one-line error for anything else. */
export function parseClusterFault(spec: string, nodes: number, workers: number): ClusterFault {
  const m = /^(kill-node|kill-worker|stop-db)(?::(\d+))?@(\d+(?:\.\d+)?)\+(\d+(?:\.\d+)?)$/.exec(spec);
  if (!m) throw new Error(`--fault "${spec}" is not ${CLUSTER_FAULT_SYNTAX}`);
  const kind = m[1] as ClusterFaultKind;
  const target = m[2] === undefined ? (kind === "kill-node" ? 1 % nodes : 0) : Number(m[2]);
  if (kind === "stop-db" && m[2] !== undefined) throw new Error(`--fault "${spec}": stop-db takes no target (there is one database)`);
  if (kind === "kill-node" && target >= nodes) throw new Error(`--fault "${spec}": the cluster has nodes 0 to ${nodes - 1}`);
  if (kind === "kill-worker" && target >= workers) throw new Error(`--fault "${spec}": there are workers 0 to ${workers - 1} (--gateways ${workers})`);
  return { kind, target, atS: Number(m[3]), forS: Number(m[4]) };
}

export interface FleetClusterOptions {
  /** Device ids and identity public keys (ES256). */
  devices: { hex: string; publicKey: Uint8Array }[];
  gatewayPrivateKey: Uint8Array;
  agreementAlg: KeyAgreementAlgorithm;
  /** PEM of the run's factory CA: the broker accepts the client certificates it issued. */
  clientCaPem: string;
  workers: number;
  nodes?: number;
  partitions?: number;
  faults?: ClusterFault[];
  say: (line: string) => void;
}

export interface ClusterFaultRecord extends ClusterFault {
  /** Wall seconds the part took to come back (restart until serving). */
  recoverySeconds: number | null;
}

export interface ClusterFigures {
  broker: "rabbitmq";
  nodes: number;
  partitions: number;
  store: "postgres";
  gateways: number;
  /** Readings in the store at the end, and keys held twice (0 by the primary key; counted, not assumed). */
  storedReadings: number;
  duplicateReadings: number;
  /** Summed over every worker process that ended normally (a killed one reports nothing). */
  workers: { deliveries: number; redeliveries: number; batches: number; alreadyStored: number; storeFailures: number; connections: number };
  faults: ClusterFaultRecord[];
  startupSeconds: { postgres: number; rabbitmq: number; workers: number };
}

export interface FleetCluster {
  /** Where the devices connect: each node's MQTT/TLS port, the CA of the server certificate. */
  readonly mqtt: { endpoints: { host: string; port: number }[]; caPem: string; serverName: string };
  /** Called as the schedule advances: starts and ends the faults that fall due. */
  step(virtualMs: number): void;
  /** Waits for every fault to be over (parts restarted). */
  settle(): Promise<void>;
  /** Ends the workers (their last batches committed) and counts the store. */
  finish(): Promise<ClusterFigures>;
  close(): Promise<void>;
}

interface WorkerProcess {
  index: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  lastJson: string | null;
}

/** Why the cluster mode cannot run here, or null. */
export function clusterUnavailable(): string | null {
  if (!postgresAvailable()) return POSTGRES_INSTALL_HINT;
  if (!rabbitmqAvailable()) return RABBITMQ_INSTALL_HINT;
  return null;
}

const REGISTER_CONCURRENCY = 16;
/** Wall ms a gateway worker gets to end after SIGTERM before it is killed. */
const WORKER_STOP_MS = 20_000;

export async function startFleetCluster(o: FleetClusterOptions): Promise<FleetCluster> {
  const nodes = o.nodes ?? 3;
  const partitions = o.partitions ?? 8;
  const faults = [...(o.faults ?? [])].sort((a, b) => a.atS - b.atS);
  const dir = mkdtempSync(join(tmpdir(), "wearable-fleet-cluster-"));
  let pg: RunningPostgres | null = null;
  let rabbit: RunningRabbitCluster | null = null;
  let store: PostgresStore | null = null;
  const workers: (WorkerProcess | null)[] = [];
  const ended: string[] = [];
  const keysFile = join(dir, "gateway-keys.json");
  const cleanup = async () => {
    for (const w of workers) if (w && w.child.exitCode === null) w.child.kill("SIGKILL");
    await store?.close().catch(() => {});
    await rabbit?.stop().catch(() => {});
    await pg?.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    let t = performance.now();
    pg = await startPostgres();
    const postgresS = (performance.now() - t) / 1000;
    o.say(`fleet: PostgreSQL on 127.0.0.1:${pg.port} (${postgresS.toFixed(1)} s)`);
    const { PostgresStore } = await import("../gateway/store-postgres.js");
    store = await PostgresStore.open(pg.url);
    // Provisioning registers each device's identity key in the shared store.
    const s = store;
    for (let i = 0; i < o.devices.length; i += REGISTER_CONCURRENCY * 8) {
      const chunk = o.devices.slice(i, i + REGISTER_CONCURRENCY * 8);
      await Promise.all(chunk.map((d) => s.registerIdentity(d.hex, toHex(d.publicKey))));
    }
    t = performance.now();
    o.say(`fleet: starting a ${nodes}-node RabbitMQ cluster with ${o.devices.length} device accounts`);
    rabbit = await startRabbitCluster({ nodes, clientCaPem: o.clientCaPem, devices: o.devices.map((d) => d.hex), partitions });
    const rabbitS = (performance.now() - t) / 1000;
    o.say(`fleet: RabbitMQ cluster up in ${rabbitS.toFixed(1)} s (MQTT/TLS on ${rabbit.nodes.map((n) => n.mqttPort).join(", ")})`);
    writeFileSync(keysFile, JSON.stringify({ gatewayPrivateKey: toHex(o.gatewayPrivateKey), agreementAlg: o.agreementAlg }), { mode: 0o600 });
    t = performance.now();
    const r = rabbit;
    const p = pg;
    const spawnWorker = async (index: number): Promise<WorkerProcess> => {
      const args = [...GATEWAY_WORKER_NODE_OPTIONS, "--import", "tsx", join(repoRoot, "host/cli/wearable.ts"), "gateway-worker", "--amqp", r.nodes.map((_, i) => r.amqpUrl(i)).join(","), "--store", p.url, "--keys", keysFile, "--worker", `${index}/${o.workers}`, "--partitions", String(partitions), "--json"];
      const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
      const w: WorkerProcess = { index, child, exited: new Promise((res) => child.once("exit", (code) => res(code))), lastJson: null };
      let ready!: () => void;
      const connected = new Promise<void>((res) => (ready = res));
      createInterface({ input: child.stdout! }).on("line", (line) => {
        if (line.startsWith("{")) w.lastJson = line;
      });
      createInterface({ input: child.stderr! }).on("line", (line) => {
        if (/connected to/.test(line)) ready();
        if (/^gateway worker \d+: (connected|lost|the store|the broker|cannot)/.test(line)) o.say(`fleet: ${line}`);
        else if (!/^gateway worker \d+: \d+ readings stored/.test(line)) o.say(`fleet: worker ${index}: ${line}`);
      });
      await Promise.race([connected, w.exited.then((code) => Promise.reject(new Error(`gateway worker ${index} exited (code ${code}) before it connected`)))]);
      return w;
    };
    for (let k = 0; k < o.workers; k++) workers.push(await spawnWorker(k));
    const workersS = (performance.now() - t) / 1000;

    const records: ClusterFaultRecord[] = [];
    const pending = new Set<Promise<void>>();
    const started = new Set<ClusterFault>();
    const down = async (f: ClusterFault) => {
      if (f.kind === "kill-node") await r.killNode(f.target);
      else if (f.kind === "kill-worker") {
        const w = workers[f.target];
        workers[f.target] = null;
        w?.child.kill("SIGKILL");
        await w?.exited;
      } else await p.pause();
      o.say(`fleet: fault: ${f.kind}${f.kind === "stop-db" ? "" : ` ${f.target}`} at ${f.atS} s, for ${f.forS} s`);
    };
    const up = async (f: ClusterFault, rec: ClusterFaultRecord) => {
      const t0 = performance.now();
      if (f.kind === "kill-node") await r.restartNode(f.target);
      else if (f.kind === "kill-worker") workers[f.target] = await spawnWorker(f.target);
      else await p.resume();
      rec.recoverySeconds = Math.round((performance.now() - t0) / 100) / 10;
      o.say(`fleet: fault over: ${f.kind}${f.kind === "stop-db" ? "" : ` ${f.target}`} back after ${rec.recoverySeconds} s`);
    };
    const cluster: FleetCluster = {
      mqtt: { endpoints: r.nodes.map((n) => ({ host: r.host, port: n.mqttPort })), caPem: r.caPem, serverName: r.serverName },
      step(virtualMs) {
        for (const f of faults) {
          if (started.has(f) || virtualMs < f.atS * 1000) continue;
          started.add(f);
          const rec: ClusterFaultRecord = { ...f, recoverySeconds: null };
          records.push(rec);
          const job = (async () => {
            await down(f);
            await new Promise((res) => setTimeout(res, f.forS * 1000));
            await up(f, rec);
          })().catch((e) => o.say(`fleet: fault ${f.kind} failed: ${(e as Error).message}`));
          pending.add(job);
          void job.finally(() => pending.delete(job));
        }
      },
      async settle() {
        while (pending.size) await Promise.all([...pending]);
      },
      async finish() {
        await cluster.settle();
        const sums = { deliveries: 0, redeliveries: 0, batches: 0, alreadyStored: 0, storeFailures: 0, connections: 0 };
        for (const w of workers) {
          if (!w) continue;
          w.child.kill("SIGTERM");
          // A worker ends its batch in flight first; one that cannot (its store gone) is killed.
          const timer = setTimeout(() => w.child.kill("SIGKILL"), WORKER_STOP_MS);
          await w.exited;
          clearTimeout(timer);
          if (w.lastJson) {
            const j = JSON.parse(w.lastJson) as Record<string, number>;
            for (const k of Object.keys(sums) as (keyof typeof sums)[]) sums[k] += j[k] ?? 0;
            ended.push(w.lastJson);
          }
        }
        return {
          broker: "rabbitmq",
          nodes,
          partitions,
          store: "postgres",
          gateways: o.workers,
          storedReadings: await s.count(),
          duplicateReadings: await s.duplicateKeys(),
          workers: sums,
          faults: records,
          startupSeconds: { postgres: Math.round(postgresS * 10) / 10, rabbitmq: Math.round(rabbitS * 10) / 10, workers: Math.round(workersS * 10) / 10 },
        };
      },
      close: cleanup,
    };
    return cluster;
  } catch (e) {
    await cleanup();
    throw e;
  }
}
