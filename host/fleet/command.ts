/**
 * `wearable fleet`: N simulated devices against the gateway, through a transport; prints the
 * devices, frames sent, verified and lost, end-to-end latency percentiles and CPU use.
 */
import { formatHelp, parseFlags, UsageError, type FlagSpecs, parseSpeed } from "../cli/args.js";
import { runFleet, createInProcessTransport, type FleetEngine, type FleetSummary } from "./fleet.js";
import type { ClusterFigures } from "./cluster.js";
import { mqttTransportOrReason } from "./mqtt-transport.js";
import { CLUSTER_FAULT_SYNTAX, clusterUnavailable, parseClusterFault, type ClusterFault } from "./cluster.js";
import { ClusterFleetTransport } from "./cluster-transport.js";
import type { FleetTransport } from "./transport.js";
import { withRunScope } from "../sim/run-scope.js";
import { DashboardServer } from "../dashboard/server.js";

const fleetFlags = {
  devices: { type: "number", help: "simulated devices", default: 100, integer: true, min: 1, max: 100000, valueName: "N" },
  minutes: { type: "number", help: "simulated minutes to run", default: 1, min: 0.05, max: 1440, valueName: "M" },
  transport: { type: "string", help: "how frames reach the gateway", default: "in-process", choices: ["in-process", "mqtt"] },
  broker: { type: "string", help: "with MQTT: mosquitto (one broker, the gateway in this process) or cluster (a 3-node RabbitMQ cluster, gateway worker processes, PostgreSQL; implies --transport mqtt)", default: "mosquitto", choices: ["mosquitto", "cluster"] },
  store: { type: "string", help: "where the gateway stores readings: memory (a counting store in this process) or postgres (a PostgreSQL server for the run; needs --broker cluster)", valueName: "memory|postgres" },
  gateways: { type: "number", help: "with --broker cluster: gateway worker processes sharing the stream and the store", default: 2, integer: true, min: 1, max: 16, valueName: "W" },
  partitions: { type: "number", help: "with --broker cluster: queues the devices are spread over (each consumed by one worker at a time)", default: 8, integer: true, min: 1, max: 64, valueName: "P" },
  faults: { type: "string", help: `with --broker cluster: faults to inject, comma-separated: ${CLUSTER_FAULT_SYNTAX}`, valueName: "LIST" },
  engine: { type: "string", help: "generator: the real frame sealer per device (scales to thousands); xs or node: the whole firmware per device (small N)", default: "generator", choices: ["generator", "xs", "node"] },
  speed: { type: "string", help: "simulated seconds per wall second, or max (compressed; latency stays wall-clock)", default: "1", valueName: "X|max" },
  "frame-period": { type: "number", help: "seconds of readings per frame (one frame per period per device)", default: 5, integer: true, min: 1, max: 60, valueName: "S" },
  seed: { type: "number", help: "seed of the device and gateway keys", default: 1, integer: true, min: 0, max: 2 ** 31 - 1 },
  json: { type: "boolean", help: "print the summary as one JSON object (progress stays on stderr)" },
  dashboard: { type: "boolean", help: "serve the fleet's live dashboard on 127.0.0.1: the device list, each device's trends and alerts" },
  "dashboard-port": { type: "number", help: "port of the dashboard (0: a free one)", default: 0, integer: true, min: 0, max: 65535, valueName: "P" },
  "dashboard-linger": { type: "number", help: "seconds the dashboard keeps serving the final state after the run (Ctrl-C stops sooner)", default: 0, integer: true, min: 0, max: 86400, valueName: "S" },
} satisfies FlagSpecs;

export function summaryText(s: FleetSummary): string {
  const rej = Object.entries(s.rejected).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  return [
    `fleet: ${s.devices} devices (${s.engine}) for ${s.minutes} simulated min over ${s.transport}, ${s.timeMode} time${s.interrupted ? " (interrupted)" : ""}`,
    `  frames: sent ${s.sent}, verified ${s.verified}, lost ${s.lost}, rejected: ${rej}; ${s.readingsVerified} readings; announcements ${s.announcements.accepted}/${s.announcements.sent}`,
    `  messages acknowledged ${s.acknowledged}, sent again ${s.resent}, copies the gateway already had ${s.duplicates}`,
    `  end-to-end latency: p50 ${s.p50LatencyMs ?? "-"} ms, p95 ${s.p95LatencyMs ?? "-"} ms, p99 ${s.p99LatencyMs ?? "-"} ms, max ${s.maxLatencyMs ?? "-"} ms`,
    `  CPU ${s.cpuPercent}% of one core (${s.cores} cores), ${s.wallSeconds} s wall after ${s.setupSeconds} s setup, ${s.framesPerSecond} frames/s`,
    ...(s.cluster ? clusterText(s.cluster, s.readingsVerified) : []),
  ].join("\n");
}

function clusterText(c: ClusterFigures, readingsVerified: number): string[] {
  const faults = c.faults.map((f) => `${f.kind}${f.kind === "stop-db" ? "" : ` ${f.target}`} at ${f.atS} s for ${f.forS} s (back after ${f.recoverySeconds ?? "-"} s)`).join("; ") || "none";
  const w = c.workers;
  return [
    `  cluster: ${c.nodes} RabbitMQ nodes, ${c.partitions} partitions, ${c.gateways} gateway workers, PostgreSQL; started in ${c.startupSeconds.postgres} + ${c.startupSeconds.rabbitmq} + ${c.startupSeconds.workers} s`,
    `  store: ${c.storedReadings} readings (acknowledged ${readingsVerified}), ${c.duplicateReadings} stored twice; workers: ${w.deliveries} deliveries, ${w.redeliveries} redelivered, ${w.batches} batches, ${w.alreadyStored} readings already stored, ${w.storeFailures} failed commits, ${w.connections} connections`,
    `  faults: ${faults}`,
  ];
}

export const fleetCommand = {
  summary: "Runs N simulated wearables against the gateway (every frame verified) and reports sent, verified, lost, latency and CPU.",
  usage: "npm run wearable -- fleet --devices N --minutes M [--transport mqtt | --broker cluster [--gateways W] [--faults LIST]] [--json]",
  flags: fleetFlags as FlagSpecs,
  async run(argv: string[]): Promise<number> {
    const { flags, positional, help } = parseFlags("fleet", fleetFlags, argv);
    if (help) {
      console.log(formatHelp(this.usage, this.summary, this.flags));
      return 0;
    }
    if (positional.length) throw new UsageError(`fleet: unexpected argument "${positional[0]}" (see --help)`);
    const speed = parseSpeed("fleet", flags.speed);
    const engine = flags.engine as FleetEngine;
    if (engine !== "generator" && flags.devices! > 64) throw new UsageError(`fleet: --engine ${engine} runs the whole firmware per device; use at most 64 devices (or --engine generator)`);
    const cluster = flags.broker === "cluster";
    const store = flags.store ?? (cluster ? "postgres" : "memory");
    if (store !== "memory" && store !== "postgres") throw new UsageError(`fleet: --store must be memory or postgres, not "${store}"`);
    if (cluster && store !== "postgres") throw new UsageError("fleet: --broker cluster stores into PostgreSQL (--store postgres); leave --store out or set it to postgres");
    if (!cluster && store === "postgres") throw new UsageError("fleet: --store postgres runs with the gateway workers of the cluster: add --broker cluster");
    if (cluster && flags.transport === "in-process" && argv.some((a) => a === "--transport" || a.startsWith("--transport="))) throw new UsageError("fleet: --broker cluster is reached over MQTT; leave out --transport in-process");
    if (cluster && engine !== "generator") throw new UsageError("fleet: --broker cluster runs generator devices (--engine generator)");
    if (!cluster && (flags.faults !== undefined || argv.some((a) => /^--(gateways|partitions)(=|$)/.test(a)))) throw new UsageError("fleet: --gateways, --partitions and --faults go with --broker cluster");
    let faults: ClusterFault[] = [];
    if (flags.faults !== undefined) {
      try {
        faults = flags.faults.split(",").map((f) => f.trim()).filter(Boolean).map((f) => parseClusterFault(f, 3, flags.gateways!));
      } catch (e) {
        throw new UsageError(`fleet: ${(e as Error).message}`);
      }
    }
    let transport: FleetTransport;
    if (cluster) {
      const why = clusterUnavailable();
      if (why !== null) {
        process.stderr.write(`fleet: the cluster is unavailable: ${why}\n`);
        return 1;
      }
      transport = new ClusterFleetTransport({ seed: flags.seed!, gateways: flags.gateways!, partitions: flags.partitions!, faults, say: (line) => process.stderr.write(line + "\n") });
    } else if (flags.transport === "mqtt") {
      const t = await mqttTransportOrReason();
      if (typeof t === "string") {
        process.stderr.write(`fleet: the MQTT transport is unavailable: ${t}\n`);
        return 1;
      }
      transport = t;
    } else transport = createInProcessTransport();
    // The transport (with MQTT: the broker, its folder, the connections) is released on every way
    // out; Ctrl-C or SIGTERM ends the run early with its summary. Progress goes to stderr, so that
    // stdout holds only the summary (one JSON object with --json).
    return withRunScope(async (scope) => {
      const held = scope.hold("transport", transport, (t) => t.close());
      const dashboard = flags.dashboard
        ? scope.hold("dashboard", await DashboardServer.start({ port: flags["dashboard-port"]!, engine, firmwareVersion: "1.0.0", fleet: { devices: flags.devices!, engine, transport: held.name } }), (d) => d.close())
        : null;
      if (dashboard) process.stderr.write(`fleet: live dashboard at ${dashboard.url}\n`);
      const summary = await runFleet({
        devices: flags.devices!,
        minutes: flags.minutes!,
        engine,
        speed,
        framePeriodS: flags["frame-period"]!,
        seed: flags.seed!,
        transport: held,
        progress: (line) => process.stderr.write(line + "\n"),
        stop: scope.signal,
        observer: dashboard?.fleetObserver(),
      });
      if (held instanceof ClusterFleetTransport) {
        process.stderr.write("fleet: ending the gateway workers and counting the store\n");
        const figures = await held.finish();
        if (figures) summary.cluster = figures;
      }
      if (flags.json) process.stdout.write(JSON.stringify(summary) + "\n");
      else process.stdout.write(summaryText(summary) + "\n");
      if (dashboard) await dashboard.linger(flags["dashboard-linger"]!, scope.signal, (line) => process.stderr.write(`fleet: ${line}\n`));
      const c = summary.cluster;
      const storeOk = !c || (c.duplicateReadings === 0 && c.storedReadings === summary.readingsVerified);
      return summary.lost === 0 && Object.keys(summary.rejected).length === 0 && storeOk ? 0 : 1;
    }, { warn: (line) => process.stderr.write(`fleet: ${line}\n`) });
  },
};
