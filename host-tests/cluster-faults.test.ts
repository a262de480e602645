/**
 * The fleet through the cluster with faults: generator devices over MQTT/TLS to a three-node
 * RabbitMQ cluster, two gateway worker processes storing into PostgreSQL. Mid-run a broker node
 * and a gateway worker are killed (SIGKILL) and started again, and PostgreSQL is stopped for a few
 * seconds: nothing is lost, nothing is stored twice, and the figures say so.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { runFleet } from "../host/fleet/fleet.js";
import { ClusterFleetTransport } from "../host/fleet/cluster-transport.js";
import { clusterUnavailable, parseClusterFault } from "../host/fleet/cluster.js";
import { repoRoot } from "../host/xs/build.js";
import { expectedFrames } from "./support/fleet-frames.js";

function wearable(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(repoRoot, "host/cli/wearable.ts"), ...args], { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("fleet on the cluster", function () {
  describe("fault schedule and flags", () => {
    it("parses a fault schedule and refuses bad entries in one line", () => {
      assert.deepEqual(parseClusterFault("kill-node:2@12+5", 3, 2), { kind: "kill-node", target: 2, atS: 12, forS: 5 });
      assert.deepEqual(parseClusterFault("kill-node@1+0.5", 3, 2), { kind: "kill-node", target: 1, atS: 1, forS: 0.5 });
      assert.deepEqual(parseClusterFault("kill-worker@30+3", 3, 2), { kind: "kill-worker", target: 0, atS: 30, forS: 3 });
      assert.deepEqual(parseClusterFault("stop-db@40+4", 3, 2), { kind: "stop-db", target: 0, atS: 40, forS: 4 });
      assert.throws(() => parseClusterFault("kill-node:3@1+1", 3, 2), /nodes 0 to 2/);
      assert.throws(() => parseClusterFault("kill-worker:2@1+1", 3, 2), /workers 0 to 1/);
      assert.throws(() => parseClusterFault("stop-db:1@1+1", 3, 2), /no target/);
      assert.throws(() => parseClusterFault("reboot@1+1", 3, 2), /is not kill-node/);
      assert.throws(() => parseClusterFault("kill-node@1", 3, 2), /is not kill-node/);
    });

    it("says in one line what is wrong with the cluster flags, before starting anything", () => {
      const cases: [string[], RegExp][] = [
        [["--store", "postgres"], /--store postgres runs with the gateway workers of the cluster: add --broker cluster/],
        [["--broker", "cluster", "--store", "memory"], /--broker cluster stores into PostgreSQL/],
        [["--gateways", "3"], /go with --broker cluster/],
        [["--broker", "cluster", "--faults", "kill-node:7@1+1"], /--fault "kill-node:7@1\+1": the cluster has nodes 0 to 2/],
        [["--broker", "cluster", "--engine", "xs", "--devices", "2"], /runs generator devices/],
        [["--broker", "swarm"], /swarm/],
      ];
      for (const [args, re] of cases) {
        const r = wearable(["fleet", ...args]);
        assert.equal(r.status, 2, `${args.join(" ")}: exit ${r.status}\n${r.stderr}`);
        assert.match(r.stderr, re, args.join(" "));
        assert.equal(r.stderr.trim().split("\n").length, 1, `${args.join(" ")}: one line\n${r.stderr}`);
        assert.equal(r.stdout, "");
      }
    });
  });

  it("100 devices, a broker node, a gateway worker and PostgreSQL each down mid-run: lost 0, verified = sent, every reading stored once", async function () {
    // Start-up (PostgreSQL, three RabbitMQ nodes, two workers) takes about 40 s, the run 25 s.
    this.timeout(300_000);
    const why = clusterUnavailable();
    if (why !== null) {
      if (process.env.CI) throw new Error(why);
      console.log(`    skipped: ${why}`);
      this.skip();
    }
    const lines: string[] = [];
    const transport = new ClusterFleetTransport({
      seed: 7,
      gateways: 2,
      faults: [
        { kind: "kill-node", target: 1, atS: 10, forS: 3 },
        { kind: "kill-worker", target: 0, atS: 25, forS: 2 },
        { kind: "stop-db", target: 0, atS: 45, forS: 3 },
      ],
      say: (line) => lines.push(line),
    });
    try {
      const s = await runFleet({ devices: 100, minutes: 1.5, engine: "generator", speed: 4, framePeriodS: 5, seed: 7, transport, progress: (line) => lines.push(line) });
      const c = await transport.finish();
      const log = `\n${lines.slice(-40).join("\n")}`;
      assert.ok(c, "the cluster's figures");
      // Every fault happened and every part came back.
      assert.deepEqual(c.faults.map((f) => f.kind).sort(), ["kill-node", "kill-worker", "stop-db"], log);
      for (const f of c.faults) assert.ok(f.recoverySeconds !== null && f.recoverySeconds >= 0, `${f.kind} came back${log}`);
      // 100 devices, one frame per 5 s for 90 s (1,701: device i boots i * 50 ms after the first).
      assert.equal(s.sent, expectedFrames(100, 1.5, 5), log);
      assert.equal(s.sent, 1701, log);
      assert.equal(s.lost, 0, log);
      assert.equal(s.verified, s.sent, log);
      assert.deepEqual(s.rejected, {}, log);
      assert.equal(s.readingsVerified, s.sent * 5, log);
      // What the devices saw acknowledged is in the store, each reading once.
      assert.equal(c.storedReadings, s.readingsVerified, log);
      assert.equal(c.duplicateReadings, 0, log);
      // The database stop made a commit fail, and the faults made the broker deliver again.
      assert.ok(c.workers.storeFailures >= 1, `a commit failed while PostgreSQL was down${log}`);
      assert.ok(c.workers.connections >= 3, `workers connected again${log}`);
      assert.ok(s.resent > 0, "devices sent again what was not acknowledged");
    } finally {
      await transport.close();
    }
  });
});
