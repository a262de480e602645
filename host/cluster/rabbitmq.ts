/**
 * A three-node RabbitMQ cluster on loopback for the gateway's clustered broker (docs/scaling.md,
 * "The tested cluster: RabbitMQ"), for tests and benchmarks. Every node is a child process of this
 * one (`/usr/lib/rabbitmq/bin/rabbitmq-server`, not the system service), with its own node name,
 * data, log and config in a temporary directory, its own ports (AMQP, MQTT over TLS, Erlang
 * distribution) and one Erlang cookie per run; the nodes form one cluster at boot (classic_config
 * peer discovery). Only the plugins rabbitmq_mqtt and rabbitmq_consistent_hash_exchange run.
 *
 * MQTT is TLS only, as with the project's mosquitto (host/mqtt/broker.ts): the server certificate
 * comes from a throw-away test CA, every client presents a certificate from the factory CA and
 * its CN is the account (`mqtt.ssl_cert_login`); there are no passwords and no anonymous access.
 * Accounts are loaded at boot from a definitions file: one per device (no password) whose topic
 * permissions name `{username}`, so a device writes only `wearable.<id>.frames` and `.status` and
 * reads only `wearable.<id>.acks` and `.commands` (MQTT's `/` is `.` in routing keys); and the
 * gateway (AMQP, random password), which writes acks and commands of every device.
 *
 * Topology for the gateway, declared over AMQP once every node runs (so that each quorum queue has
 * a replica on every node): `amq.topic` → `wearable.frames` (x-consistent-hash, binding key
 * `wearable.*.frames`) → `partitions` quorum queues `wearable.frames.<p>` (weight "1") with a single
 * active consumer. A device's frames land in one partition, read by one gateway worker at a time.
 *
 * Every Erlang VM started here is killed by its PID on `stop` and, best effort, when this process
 * exits; an epmd that was already running is left alone, one started here is stopped by its PID.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { connect as amqpConnect } from "amqplib";
import { freePort, makeCertificates } from "../mqtt/broker.js";

const RABBIT_BIN = "/usr/lib/rabbitmq/bin";
const RABBIT_SERVER = join(RABBIT_BIN, "rabbitmq-server");
const RABBITMQCTL = join(RABBIT_BIN, "rabbitmqctl");

export const RABBITMQ_INSTALL_HINT =
  "rabbitmq-server is not installed: apt-get install rabbitmq-server (Debian/Ubuntu; the launcher runs /usr/lib/rabbitmq/bin/rabbitmq-server itself, the system service may stay stopped)";

/** The exchange that spreads the device frames over the partition queues. */
export const FRAMES_EXCHANGE = "wearable.frames";
/** Binding key from amq.topic to the frames exchange: every device's `wearable/<id>/frames`. */
export const FRAMES_BINDING_KEY = "wearable.*.frames";

export interface RabbitClusterOptions {
  /** Number of nodes (default 3). */
  nodes?: number;
  /** PEM of the factory CA: the client certificates the MQTT listeners accept. */
  clientCaPem: string;
  /** Device ids (16 hex digits): MQTT accounts, the CN of each device's certificate. */
  devices: string[];
  /** The gateway's AMQP account (default "gateway"); its password is made per run. */
  gatewayUser?: string;
  /** Number of partition queues (default 8). */
  partitions?: number;
  /** Receives every line the nodes print (default: kept in memory and in the temp dir only). */
  log?: (line: string) => void;
}

export interface RabbitNode {
  /** Erlang node name: wearable-<run>-<i>@localhost. */
  name: string;
  mqttPort: number;
  amqpPort: number;
  /** PID of the node's Erlang VM (beam.smp); null while it is down. */
  pid: number | null;
  up: boolean;
}

export interface RunningRabbitCluster {
  nodes: RabbitNode[];
  host: "127.0.0.1";
  /** PEM of the test CA that signed the MQTT server certificate (the clients' trust anchor). */
  caPem: string;
  serverName: string;
  gatewayUser: string;
  /** amqp://gateway:<password>@127.0.0.1:<port> of node `i`. */
  amqpUrl(i: number): string;
  /** The AMQP URLs of the nodes that are up. */
  amqpUrls(): string[];
  /** The temporary directory of the run (certificates, definitions, each node's data and logs). */
  dir: string;
  /** Partition queue names, wearable.frames.0 ... */
  partitions: string[];
  /** Wall time from the call to a formed cluster with its topology (ms). */
  startupMs: number;
  /** Resident memory of each running node's Erlang VM (bytes; null when down). */
  memory(): (number | null)[];
  /** Runs rabbitmqctl against node `i` (its stdout). */
  ctl(i: number, args: string[]): Promise<string>;
  /** Adds device accounts (with their permissions) to the running cluster. */
  addDevices(ids: string[]): Promise<void>;
  /** SIGKILLs node `i`'s Erlang VM: a crash. */
  killNode(i: number): Promise<void>;
  /** Starts node `i` again; it rejoins the cluster. Resolves when it serves MQTT. */
  restartNode(i: number): Promise<void>;
  /** Stops every node (and an epmd started here) and removes the temp dir. */
  stop(): Promise<void>;
  /** What node `i` printed so far. */
  output(i: number): string;
}

export function rabbitmqAvailable(): boolean {
  return existsSync(RABBIT_SERVER) && existsSync(RABBITMQCTL);
}

const DEVICE_ID = /^[0-9a-f]{16}$/;

/** RabbitMQ's default password hash (rabbit_password_hashing_sha256): base64(salt ‖ SHA-256(salt ‖ password)). */
function passwordHash(password: string): string {
  const salt = randomBytes(4);
  return Buffer.concat([salt, createHash("sha256").update(Buffer.concat([salt, Buffer.from(password, "utf8")])).digest()]).toString("base64");
}

/** The definitions of the device accounts: no password, MQTT queues only, own topics only. */
export function deviceDefinitions(ids: string[]): { users: object[]; permissions: object[]; topic_permissions: object[] } {
  for (const id of ids) if (!DEVICE_ID.test(id)) throw new Error(`device id "${id}" is not 16 lowercase hex digits; pass device ids as the certificates' CNs`);
  return {
    users: ids.map((name) => ({ name, password_hash: "", hashing_algorithm: "rabbit_password_hashing_sha256", tags: [] })),
    // The MQTT plugin declares the session's queue (mqtt-subscription-<client id>qos<n>), binds it
    // to amq.topic and publishes to amq.topic; nothing else.
    permissions: ids.map((user) => ({ user, vhost: "/", configure: "^mqtt-subscription-", write: "^(amq\\.topic|mqtt-subscription-.*)$", read: "^(amq\\.topic|mqtt-subscription-.*)$" })),
    // {username} is the account, the certificate's CN: a device's own topics only.
    topic_permissions: ids.map((user) => ({ user, vhost: "/", exchange: "amq.topic", write: "^wearable\\.{username}\\.(frames|status)$", read: "^wearable\\.{username}\\.(acks|commands)$" })),
  };
}

function definitions(devices: string[], gatewayUser: string, gatewayPassword: string): object {
  const d = deviceDefinitions(devices);
  return {
    rabbit_version: "3.10.8",
    vhosts: [{ name: "/" }],
    users: [{ name: gatewayUser, password_hash: passwordHash(gatewayPassword), hashing_algorithm: "rabbit_password_hashing_sha256", tags: [] }, ...d.users],
    permissions: [{ user: gatewayUser, vhost: "/", configure: ".*", write: ".*", read: ".*" }, ...d.permissions],
    topic_permissions: [{ user: gatewayUser, vhost: "/", exchange: "amq.topic", write: "^wearable\\.[0-9a-f]{16}\\.(acks|commands)$", read: ".*" }, ...d.topic_permissions],
  };
}

interface NodeSlot extends RabbitNode {
  dir: string;
  distPort: number;
  child: ChildProcess | null;
  out: string;
}

/** Erlang VMs and epmds started by this process, killed by PID when it exits. */
const started = new Set<number>();
let exitHook = false;
function track(pid: number | undefined): void {
  if (pid === undefined) return;
  started.add(pid);
  if (exitHook) return;
  exitHook = true;
  process.once("exit", killStarted);
  // A signal ends Node without "exit": kill ours, then let the signal do what it would have done.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      killStarted();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    if (process.listenerCount(signal) === 0) process.once(signal, onSignal);
  }
}

function killStarted(): void {
  for (const p of started) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
  started.clear();
}

/** Whether process `pid` runs (a zombie does not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Resident set of a process (bytes) from /proc; null when it is gone. */
function rssOf(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Time allowed for one node to boot (and join) until it serves MQTT. */
const NODE_BOOT_MS = 120_000;

export async function startRabbitCluster(o: RabbitClusterOptions): Promise<RunningRabbitCluster> {
  if (!rabbitmqAvailable()) throw new Error(RABBITMQ_INSTALL_HINT);
  const t0 = Date.now();
  const count = o.nodes ?? 3;
  const partitionCount = o.partitions ?? 8;
  const gatewayUser = o.gatewayUser ?? "gateway";
  if (!(count >= 1)) throw new Error(`a cluster needs at least one node, not ${count}`);
  if (!(partitionCount >= 1)) throw new Error(`the frames need at least one partition queue, not ${partitionCount}`);
  const schedulers = Math.max(1, Math.floor(availableParallelism() / count));
  const gatewayPassword = randomBytes(18).toString("base64url");
  const runId = randomBytes(3).toString("hex");
  const dir = mkdtempSync(join(tmpdir(), "wearable-rmq-"));
  const home = join(dir, "home");
  let epmd: ChildProcess | null = null;
  const slots: NodeSlot[] = [];
  let stopped = false;

  const baseEnv = (): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = {};
    // Nothing of a RabbitMQ environment this process may have inherited applies to these nodes.
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("RABBITMQ_") && !k.startsWith("ERL_")) env[k] = v;
    return { ...env, HOME: home, RABBITMQ_CONF_ENV_FILE: join(dir, "rabbitmq-env.conf"), RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"), RABBITMQ_USE_LONGNAME: "false", LC_ALL: "C.UTF-8" };
  };

  const ctl = (slot: NodeSlot, args: string[], timeoutMs = 60_000): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(RABBITMQCTL, ["-n", slot.name, "-q", ...args], { env: baseEnv(), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`rabbitmqctl ${args.join(" ")} on ${slot.name} failed: ${(stderr || stdout || err.message).trim()}`));
        else resolve(stdout);
      });
    });

  const launch = async (slot: NodeSlot): Promise<void> => {
    const env = {
      ...baseEnv(),
      RABBITMQ_NODENAME: slot.name,
      RABBITMQ_MNESIA_BASE: join(slot.dir, "mnesia"),
      RABBITMQ_LOG_BASE: join(slot.dir, "log"),
      RABBITMQ_CONFIG_FILE: join(slot.dir, "rabbitmq.conf"),
      RABBITMQ_ADVANCED_CONFIG_FILE: join(slot.dir, "advanced.config"),
      RABBITMQ_PID_FILE: join(slot.dir, "rabbit.pid"),
      RABBITMQ_DIST_PORT: String(slot.distPort),
      // Erlang distribution on loopback only (the cookie is its one secret). The nodes share this
      // machine's cores: each runs as many schedulers as its share (one per node on 2 cores cut
      // the cluster's CPU per frame by a fifth and its p95 latency by two thirds, 1,000 devices).
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: `-kernel inet_dist_use_interface {127,0,0,1} +S ${schedulers}:${schedulers}`,
    };
    // rabbitmq-server stays as a shell that passes signals on and runs the VM as its child; the
    // VM's PID comes from the PID file once it booted.
    rmSync(env.RABBITMQ_PID_FILE, { force: true });
    const child = spawn(RABBIT_SERVER, [], { env, stdio: ["ignore", "pipe", "pipe"] });
    track(child.pid);
    slot.child = child;
    slot.pid = null;
    const onData = (d: Buffer) => {
      slot.out += d.toString();
      if (o.log) for (const line of d.toString().split("\n")) if (line.trim()) o.log(`${slot.name}: ${line}`);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", () => {
      if (child.pid !== undefined) started.delete(child.pid);
      if (slot.pid !== null && slot.child === child && !alive(slot.pid)) started.delete(slot.pid);
      if (slot.child === child) {
        slot.child = null;
        slot.pid = null;
        slot.up = false;
      }
    });
    const deadline = Date.now() + NODE_BOOT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`RabbitMQ node ${slot.name} exited during boot (${child.exitCode ?? child.signalCode}): ${slot.out.trim().split("\n").slice(-15).join("\n")}`);
      if (await portOpen(slot.mqttPort)) {
        // The listeners open before the boot ends (the accounts are imported after them).
        await ctl(slot, ["await_startup", "--timeout", String(Math.max(1, Math.round((deadline - Date.now()) / 1000)))], NODE_BOOT_MS);
        const pid = Number(readFileSync(env.RABBITMQ_PID_FILE, "utf8").trim());
        if (!(pid > 0)) throw new Error(`RabbitMQ node ${slot.name} wrote no PID to ${env.RABBITMQ_PID_FILE}`);
        track(pid);
        slot.pid = pid;
        slot.up = true;
        return;
      }
      await sleep(200);
    }
    await end(slot, "SIGKILL", 0);
    throw new Error(`RabbitMQ node ${slot.name} did not serve MQTT on 127.0.0.1:${slot.mqttPort} within ${NODE_BOOT_MS / 1000} s: ${slot.out.trim().split("\n").slice(-15).join("\n")}`);
  };

  /** Ends node `slot`: `signal` to its VM (or to the shell while the VM's PID is unknown), then SIGKILL to both. */
  const end = async (slot: NodeSlot, signal: NodeJS.Signals, graceMs: number): Promise<void> => {
    const child = slot.child;
    const vm = slot.pid;
    const running = (p: number | null) => p !== null && alive(p);
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      if (vm !== null) signalPid(vm, signal);
      else child.kill(signal);
      await Promise.race([exited, sleep(graceMs)]);
    }
    for (const p of [vm, child?.pid ?? null]) if (running(p)) signalPid(p!, "SIGKILL");
    for (let i = 0; i < 100 && (running(vm) || (child && child.exitCode === null && child.signalCode === null)); i++) await sleep(50);
    if (vm !== null) started.delete(vm);
    slot.up = false;
    slot.pid = null;
  };

  const stopAll = async (): Promise<void> => {
    stopped = true;
    await Promise.all(slots.map((s) => end(s, "SIGTERM", 8000)));
    if (epmd && epmd.exitCode === null && epmd.signalCode === null) {
      const exited = new Promise<void>((r) => epmd!.once("exit", () => r()));
      epmd.kill("SIGKILL");
      await Promise.race([exited, sleep(2000)]);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    makeCertificates(dir);
    writeFileSync(join(dir, "clients-ca.crt"), o.clientCaPem);
    mkdirSync(home, { recursive: true });
    // One cookie for the nodes and rabbitmqctl of this run (Erlang insists on mode 0400).
    writeFileSync(join(home, ".erlang.cookie"), randomBytes(24).toString("hex").toUpperCase(), { mode: 0o400 });
    writeFileSync(join(dir, "rabbitmq-env.conf"), "");
    writeFileSync(join(dir, "enabled_plugins"), "[rabbitmq_mqtt,rabbitmq_consistent_hash_exchange].\n");
    const defsFile = join(dir, "definitions.json");
    writeFileSync(defsFile, JSON.stringify(definitions(o.devices, gatewayUser, gatewayPassword)));

    // epmd is per machine: reuse a running one; otherwise run one of our own (by PID).
    if (!(await portOpen(4369))) {
      epmd = spawn("epmd", ["-address", "127.0.0.1"], { stdio: "ignore" });
      track(epmd.pid);
      for (let i = 0; i < 50 && !(await portOpen(4369)); i++) await sleep(50);
    }

    for (let i = 0; i < count; i++) {
      const slot: NodeSlot = { name: `wearable-${runId}-${i}@localhost`, dir: join(dir, `node-${i}`), mqttPort: await freePort(), amqpPort: await freePort(), distPort: await freePort(), pid: null, up: false, child: null, out: "" };
      mkdirSync(slot.dir, { recursive: true });
      slots.push(slot);
    }
    for (const slot of slots) {
      const conf = [
        `listeners.tcp.default = 127.0.0.1:${slot.amqpPort}`,
        "cluster_formation.peer_discovery_backend = classic_config",
        ...slots.map((s, k) => `cluster_formation.classic_config.nodes.${k + 1} = ${s.name}`),
        "cluster_formation.randomized_startup_delay_range.min = 0",
        "cluster_formation.randomized_startup_delay_range.max = 1",
        "cluster_partition_handling = pause_minority",
        // Quorum queue leaders spread over the nodes rather than all on the declaring one.
        "queue_leader_locator = balanced",
        // MQTT over TLS only; the account is the client certificate's CN.
        "mqtt.listeners.tcp = none",
        `mqtt.listeners.ssl.default = 127.0.0.1:${slot.mqttPort}`,
        "mqtt.ssl_cert_login = true",
        "ssl_cert_login_from = common_name",
        "mqtt.allow_anonymous = false",
        "mqtt.vhost = /",
        "mqtt.exchange = amq.topic",
        `ssl_options.cacertfile = ${join(dir, "clients-ca.crt")}`,
        `ssl_options.certfile = ${join(dir, "server.crt")}`,
        `ssl_options.keyfile = ${join(dir, "server.key")}`,
        "ssl_options.verify = verify_peer",
        "ssl_options.fail_if_no_peer_cert = true",
        "ssl_options.versions.1 = tlsv1.2",
        "definitions.import_backend = local_filesystem",
        `definitions.local.path = ${defsFile}`,
        // A restarted node does not import the same accounts again.
        "definitions.skip_if_unchanged = true",
        "definitions.hashing.algorithm = sha256",
        "log.console = true",
        "log.console.level = warning",
        "log.file.level = info",
        "disk_free_limit.absolute = 50MB",
        "",
      ].join("\n");
      writeFileSync(join(slot.dir, "rabbitmq.conf"), conf);
    }

    // The first node forms the cluster; the others then find it in the list and join it.
    await launch(slots[0]);
    await Promise.all(slots.slice(1).map((s) => launch(s)));
    const status = JSON.parse(await ctl(slots[0], ["cluster_status", "--formatter", "json"])) as { running_nodes?: string[] };
    const running = new Set(status.running_nodes ?? []);
    const missing = slots.filter((s) => !running.has(s.name)).map((s) => s.name);
    if (missing.length > 0) throw new Error(`RabbitMQ nodes ${missing.join(", ")} did not join the cluster of ${slots[0].name}`);

    const amqpUrl = (i: number) => `amqp://${encodeURIComponent(gatewayUser)}:${encodeURIComponent(gatewayPassword)}@127.0.0.1:${slots[i].amqpPort}`;
    const partitions = Array.from({ length: partitionCount }, (_, p) => `${FRAMES_EXCHANGE}.${p}`);
    const conn = await amqpConnect(amqpUrl(0));
    try {
      const ch = await conn.createChannel();
      await ch.assertExchange(FRAMES_EXCHANGE, "x-consistent-hash", { durable: true });
      await ch.bindExchange(FRAMES_EXCHANGE, "amq.topic", FRAMES_BINDING_KEY);
      for (const q of partitions) {
        await ch.assertQueue(q, { durable: true, arguments: { "x-queue-type": "quorum", "x-single-active-consumer": true } });
        await ch.bindQueue(q, FRAMES_EXCHANGE, "1");
      }
      await ch.close();
    } finally {
      await conn.close();
    }
    const startupMs = Date.now() - t0;
    const caPem = readFileSync(join(dir, "ca.crt"), "utf8");

    const slotAt = (i: number): NodeSlot => {
      const s = slots[i];
      if (!s) throw new Error(`no node ${i}: the cluster has nodes 0 to ${slots.length - 1}`);
      return s;
    };
    // What callers see of a node: its ports, and its PID and state as they change.
    const view = (s: NodeSlot): RabbitNode => ({
      name: s.name,
      mqttPort: s.mqttPort,
      amqpPort: s.amqpPort,
      get pid() {
        return s.pid;
      },
      get up() {
        return s.up;
      },
    });
    const cluster: RunningRabbitCluster = {
      nodes: slots.map(view),
      host: "127.0.0.1",
      caPem,
      serverName: "127.0.0.1",
      gatewayUser,
      amqpUrl: (i) => amqpUrl(slots.indexOf(slotAt(i))),
      amqpUrls: () => slots.flatMap((s, i) => (s.up ? [amqpUrl(i)] : [])),
      dir,
      partitions,
      startupMs,
      memory: () => slots.map((s) => (s.pid !== null ? rssOf(s.pid) : null)),
      ctl: (i, args) => ctl(slotAt(i), args),
      async addDevices(ids) {
        if (ids.length === 0) return;
        const slot = slots.find((s) => s.up);
        if (!slot) throw new Error("no RabbitMQ node of the cluster is up; restart one before adding devices");
        const file = join(dir, `devices-${Date.now()}-${randomBytes(3).toString("hex")}.json`);
        writeFileSync(file, JSON.stringify({ rabbit_version: "3.10.8", ...deviceDefinitions(ids) }));
        try {
          await ctl(slot, ["import_definitions", file], 300_000);
        } finally {
          rmSync(file, { force: true });
        }
      },
      async killNode(i) {
        await end(slotAt(i), "SIGKILL", 5000);
      },
      async restartNode(i) {
        const s = slotAt(i);
        if (stopped) throw new Error("the cluster is stopped; start a new one");
        if (s.child) return;
        await launch(s);
      },
      stop: async () => {
        if (!stopped) await stopAll();
      },
      output: (i) => slotAt(i).out,
    };
    if (o.log) o.log(`cluster of ${count} up in ${startupMs} ms; resident memory per node: ${cluster.memory().map((m) => (m === null ? "-" : `${Math.round(m / 1048576)} MiB`)).join(", ")}`);
    return cluster;
  } catch (e) {
    await stopAll();
    throw e;
  }
}
