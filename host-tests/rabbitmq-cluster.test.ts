/**
 * The gateway's clustered broker (host/cluster/rabbitmq.ts) against a real three-node RabbitMQ
 * cluster started by the test: mutual TLS for MQTT with the factory CA, per-device topic
 * authorisation, the device frames spread over quorum partition queues by a consistent hash, one
 * active consumer per partition, and no acknowledged frame lost when a node crashes. One cluster
 * serves every test of the file.
 */
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect as amqpConnect, type ChannelModel, type ConsumeMessage } from "amqplib";
import { RABBITMQ_INSTALL_HINT, rabbitmqAvailable, startRabbitCluster, type RunningRabbitCluster } from "../host/cluster/rabbitmq.js";
import { HostMqttClient, MqttConnectError } from "../host/mqtt/client.js";
import { FactoryCa, type ClientIdentity } from "../host/provision/pki.js";
import { NodeCrypto } from "../host/crypto/node-crypto.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const deviceId = () => randomBytes(8).toString("hex");
const text = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));
/** A message taken from a partition queue. */
type Taken = { queue: string; key: string; body: string };

describe("a three-node RabbitMQ cluster for the gateway, with per-device MQTT authorisation", function () {
  this.timeout(300_000);
  const ca = new FactoryCa(new NodeCrypto().signatureKeyPair("ES256"));
  const idA = deviceId();
  const idB = deviceId();
  const fleet = Array.from({ length: 100 }, deviceId);
  const identities = new Map<string, ClientIdentity>();
  const identity = (id: string) => identities.get(id) ?? identities.set(id, ca.issueClientIdentity(id)).get(id)!;
  let cluster: RunningRabbitCluster;
  const open: { close(): unknown }[] = [];
  let clients = 0;

  before(async function () {
    if (!rabbitmqAvailable()) {
      // CI installs rabbitmq-server; elsewhere the suite says how to get it.
      if (process.env.CI) throw new Error(RABBITMQ_INSTALL_HINT);
      this.skip();
    }
    cluster = await startRabbitCluster({ clientCaPem: ca.certificatePem, devices: [idA, idB, ...fleet] });
    const mib = cluster.memory().map((m) => (m === null ? "-" : `${Math.round(m / 1048576)} MiB`));
    console.log(`      cluster of ${cluster.nodes.length} nodes up in ${(cluster.startupMs / 1000).toFixed(1)} s; resident memory per node: ${mib.join(", ")}`);
  });
  afterEach(function () {
    // A failure shows what the nodes logged (warnings and errors; info goes to the log files).
    if (this.currentTest?.state === "failed" && cluster) for (let i = 0; i < cluster.nodes.length; i++) console.log(`--- ${cluster.nodes[i].name}\n${cluster.output(i).split("\n").slice(-40).join("\n")}`);
    for (const c of open.splice(0)) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
  });
  after(async () => {
    await cluster?.stop();
  });

  function mqtt(id: string, node: number, o: { identity?: { certPem?: string; keyPem?: string }; onMessage?: (topic: string, payload: Uint8Array) => void; onClose?: (reason: string) => void } = {}): Promise<HostMqttClient> {
    const who = o.identity ?? { certPem: identity(id).certificatePem, keyPem: identity(id).keyPem };
    return HostMqttClient.connect({ host: cluster.host, port: cluster.nodes[node].mqttPort, caPem: cluster.caPem, serverName: cluster.serverName, clientId: `${id}-${++clients}`, ...who, connectTimeoutMs: 10_000, onMessage: o.onMessage, onClose: o.onClose }).then((c) => {
      open.push(c);
      return c;
    });
  }

  async function amqp(node: number): Promise<ChannelModel> {
    const conn = await amqpConnect(cluster.amqpUrl(node));
    conn.on("error", () => {});
    open.push({ close: () => void conn.close().catch(() => {}) });
    return conn;
  }

  /**
   * Takes what arrives in the partition queues until `done` holds for it (quorum queues may be
   * electing a leader) and then for `settleMs` more: the queue, routing key and body of each.
   * A partition with a single active consumer allows no basic.get: this consumes.
   */
  async function drainUntil(node: number, done: (all: Taken[]) => boolean, ms = 30_000, settleMs = 300): Promise<Taken[]> {
    const conn = await amqp(node);
    const ch = await conn.createChannel();
    const all: Taken[] = [];
    for (const queue of cluster.partitions) {
      await ch.consume(
        queue,
        (m) => {
          if (!m) return;
          all.push({ queue, key: m.fields.routingKey, body: m.content.toString("utf8") });
          ch.ack(m);
        },
        { noAck: false },
      );
    }
    const deadline = Date.now() + ms;
    while (!done(all) && Date.now() < deadline) await sleep(100);
    await sleep(settleMs);
    await conn.close();
    return all;
  }

  async function refusal(p: Promise<HostMqttClient>): Promise<MqttConnectError> {
    try {
      await p;
    } catch (e) {
      assert.ok(e instanceof MqttConnectError, String(e));
      return e;
    }
    assert.fail("the broker accepted the connection");
  }

  describe("the cluster and its TLS accounts", () => {
    it("forms one cluster of three nodes with every partition a quorum queue on all three", async () => {
      const status = JSON.parse(await cluster.ctl(0, ["cluster_status", "--formatter", "json"])) as { running_nodes: string[]; disk_nodes: string[] };
      assert.deepEqual([...status.running_nodes].sort(), cluster.nodes.map((n) => n.name).sort());
      // Each partition: a quorum queue with replicas on the three nodes and a single active consumer.
      const names = cluster.partitions.map((q) => `<<"${q}">>`).join(", ");
      const shown = await cluster.ctl(2, ["eval", `[begin {ok, Q} = rabbit_amqqueue:lookup(rabbit_misc:r(<<"/">>, queue, N)), {amqqueue:get_type(Q), length(maps:get(nodes, amqqueue:get_type_state(Q))), rabbit_misc:table_lookup(amqqueue:get_arguments(Q), <<"x-single-active-consumer">>)} end || N <- [${names}]].`]);
      assert.equal(shown.match(/\{rabbit_quorum_queue,3,\{bool,true\}\}/g)?.length, cluster.partitions.length, shown);
    });

    it("lets a device connect to every node over MQTT/TLS with its factory-issued certificate", async () => {
      for (let i = 0; i < cluster.nodes.length; i++) {
        const c = await mqtt(idA, i);
        assert.ok(c.connected);
        c.close();
      }
    });

    it("refuses a client without a certificate, with one from another CA, or with an unknown CN", async () => {
      const none = await refusal(mqtt(idA, 0, { identity: {} }));
      assert.ok(none.kind === "tls" || none.kind === "closed", `${none.kind}: ${none.message}`);
      const other = new FactoryCa(new NodeCrypto().signatureKeyPair("ES256")).issueClientIdentity(idA);
      const foreign = await refusal(mqtt(idA, 1, { identity: { certPem: other.certificatePem, keyPem: other.keyPem } }));
      assert.ok(foreign.kind === "tls" || foreign.kind === "closed", `${foreign.kind}: ${foreign.message}`);
      // A valid certificate from the factory CA for a device the cluster has no account for.
      const stranger = await refusal(mqtt(deviceId(), 2));
      assert.equal(stranger.kind, "refused-account", stranger.message);
    });
  });

  describe("per-device authorisation", () => {
    it("routes a device's frames to a partition queue, where the gateway reads them over AMQP", async () => {
      const a = await mqtt(idA, 0);
      await a.publish(`wearable/${idA}/frames`, text("frame of A"), 1);
      const got = await drainUntil(1, (all) => all.length >= 1);
      assert.deepEqual(
        got.map((m) => [m.key, m.body]),
        [[`wearable.${idA}.frames`, "frame of A"]],
      );
    });

    it("closes the connection of a device that publishes to another device's topic, and routes nothing", async () => {
      let closed = "";
      const a = await mqtt(idA, 0, { onClose: (r) => (closed = r) });
      await assert.rejects(a.publish(`wearable/${idB}/frames`, text("forged by A"), 1));
      assert.ok(!a.connected, "the connection stays open");
      assert.equal(closed, "closed by the broker");
      await sleep(500);
      assert.deepEqual(await drainUntil(2, () => false, 0, 1000), []);
    });

    it("refuses a device's subscription to another device's topic", async () => {
      const a = await mqtt(idA, 1);
      // RabbitMQ 3.10 answers with no SUBACK (no 0x80): it closes the connection.
      await assert.rejects(a.subscribe([`wearable/${idB}/acks`]), /closed by the broker/);
      assert.ok(!a.connected);
    });

    it("delivers the gateway's ack for device A to A only", async () => {
      const seenA: string[] = [];
      const seenB: string[] = [];
      const a = await mqtt(idA, 0, { onMessage: (t, p) => seenA.push(`${t} ${Buffer.from(p).toString()}`) });
      const b = await mqtt(idB, 2, { onMessage: (t, p) => seenB.push(`${t} ${Buffer.from(p).toString()}`) });
      assert.deepEqual(await a.subscribe([`wearable/${idA}/acks`, `wearable/${idA}/commands`]), [1, 1]);
      assert.deepEqual(await b.subscribe([`wearable/${idB}/acks`, `wearable/${idB}/commands`]), [1, 1]);
      const conn = await amqp(1);
      const ch = await conn.createConfirmChannel();
      ch.publish("amq.topic", `wearable.${idA}.acks`, Buffer.from("ack for A"));
      await ch.waitForConfirms();
      for (let i = 0; i < 50 && seenA.length === 0; i++) await sleep(100);
      await sleep(300);
      assert.deepEqual(seenA, [`wearable/${idA}/acks ack for A`]);
      assert.deepEqual(seenB, []);
    });
  });

  describe("partitioning", () => {
    it("puts every frame of one device in the same partition queue", async () => {
      const a = await mqtt(idA, 1);
      for (let i = 0; i < 10; i++) await a.publish(`wearable/${idA}/frames`, text(`A ${i}`), 1);
      const got = await drainUntil(0, (all) => all.length >= 10);
      assert.equal(got.length, 10);
      assert.equal(new Set(got.map((m) => m.queue)).size, 1, JSON.stringify(got));
      assert.deepEqual(
        got.map((m) => m.body),
        Array.from({ length: 10 }, (_, i) => `A ${i}`),
      );
    });

    it("spreads 100 devices over the partitions, each device in one", async () => {
      for (let k = 0; k < fleet.length; k += 25) {
        await Promise.all(
          fleet.slice(k, k + 25).map(async (id, j) => {
            const c = await mqtt(id, (k + j) % 3);
            await c.publish(`wearable/${id}/frames`, text("first"), 1);
            await c.publish(`wearable/${id}/frames`, text("second"), 1);
            c.close();
          }),
        );
      }
      const got = await drainUntil(0, (all) => all.length >= 2 * fleet.length);
      assert.equal(got.length, 2 * fleet.length);
      const queueOf = new Map<string, Set<string>>();
      for (const m of got) (queueOf.get(m.key) ?? queueOf.set(m.key, new Set()).get(m.key)!).add(m.queue);
      assert.equal(queueOf.size, fleet.length);
      for (const [key, queues] of queueOf) assert.equal(queues.size, 1, `${key} in ${[...queues].join(", ")}`);
      const perQueue = new Map<string, number>();
      for (const queues of queueOf.values()) for (const q of queues) perQueue.set(q, (perQueue.get(q) ?? 0) + 1);
      assert.ok(perQueue.size >= 5, `100 devices in ${perQueue.size} of ${cluster.partitions.length} partitions: ${JSON.stringify([...perQueue])}`);
    });
  });

  describe("competing consumers", () => {
    it("gives a partition to one consumer at a time; the other takes over, with what the first left unacknowledged", async () => {
      const a = await mqtt(idA, 0);
      await a.publish(`wearable/${idA}/frames`, text("probe"), 1);
      const probe = await drainUntil(0, (all) => all.length >= 1);
      const queue = probe[0].queue;

      const first: ConsumeMessage[] = [];
      const second: ConsumeMessage[] = [];
      const conn1 = await amqp(0);
      const ch1 = await conn1.createChannel();
      await ch1.prefetch(50);
      await ch1.consume(queue, (m) => m && first.push(m), { noAck: false });
      const conn2 = await amqp(2);
      const ch2 = await conn2.createChannel();
      await ch2.prefetch(50);
      await ch2.consume(queue, (m) => m && second.push(m), { noAck: false });

      for (let i = 0; i < 10; i++) await a.publish(`wearable/${idA}/frames`, text(`sac ${i}`), 1);
      for (let i = 0; i < 100 && first.length < 10; i++) await sleep(100);
      await sleep(500);
      assert.equal(first.length, 10);
      assert.equal(second.length, 0, "the standby consumer received messages");
      // The first consumer acknowledges four, then its connection dies holding six.
      for (const m of first.slice(0, 4)) ch1.ack(m);
      await sleep(300);
      await conn1.close();

      for (let i = 10; i < 13; i++) await a.publish(`wearable/${idA}/frames`, text(`sac ${i}`), 1);
      for (let i = 0; i < 100 && second.length < 9; i++) await sleep(100);
      const bodies = second.map((m) => m.content.toString());
      assert.deepEqual(bodies, Array.from({ length: 9 }, (_, i) => `sac ${i + 4}`));
      assert.ok(second.slice(0, 6).every((m) => m.fields.redelivered), "the requeued messages are not marked redelivered");
      for (const m of second) ch2.ack(m);
      await sleep(300);
    });
  });

  describe("a node crash", () => {
    it("loses no acknowledged frame when a node crashes; devices move to another node; the node rejoins", async () => {
      const a = await mqtt(idA, 1);
      let lost = "";
      const b = await mqtt(idB, 1, { onClose: (r) => (lost = r) });
      const sent: string[] = [];
      for (let i = 0; i < 20; i++) {
        const body = `before crash ${i}`;
        await (i % 2 ? a : b).publish(`wearable/${i % 2 ? idA : idB}/frames`, text(body), 1);
        sent.push(body);
      }
      await cluster.killNode(1);
      assert.equal(cluster.nodes[1].up, false);
      for (let i = 0; i < 50 && b.connected; i++) await sleep(100);
      assert.ok(!b.connected, "the device's connection survived the crash of its node");
      assert.ok(lost);

      // The device reconnects to another node and goes on. While the partitions that had their
      // leader on the dead node elect a new one, a quorum queue may refuse a publish (basic.nack),
      // and RabbitMQ 3.10's MQTT plugin then closes the connection instead of answering: the device
      // does what it does on any lost connection (reconnect, resend what was not acknowledged).
      let attempts = 0;
      for (;;) {
        attempts++;
        try {
          const again = await mqtt(idB, 2);
          await again.publish(`wearable/${idB}/frames`, text("after crash"), 1);
          break;
        } catch (e) {
          if (attempts >= 30) throw e;
          await sleep(500);
        }
      }
      sent.push("after crash");
      const got = await drainUntil(0, (all) => sent.every((b) => all.some((m) => m.body === b)), 60_000);
      // Every acknowledged frame is there; a resent one may be there twice (the gateway deduplicates).
      assert.deepEqual([...new Set(got.map((m) => m.body))].sort(), [...sent].sort(), `after ${attempts} attempt(s) to publish after the crash`);
      assert.equal(cluster.amqpUrls().length, 2);

      await cluster.restartNode(1);
      const status = JSON.parse(await cluster.ctl(1, ["cluster_status", "--formatter", "json"])) as { running_nodes: string[] };
      assert.deepEqual([...status.running_nodes].sort(), cluster.nodes.map((n) => n.name).sort());
      assert.equal(cluster.amqpUrls().length, 3);
      const c = await mqtt(idA, 1);
      assert.ok(c.connected);
    });
  });

  describe("stop", () => {
    it("stops every process it started and removes its files", async () => {
      const pids = cluster.nodes.flatMap((n) => (n.pid === null ? [] : [n.pid]));
      const names = cluster.nodes.map((n) => n.name);
      assert.ok(pids.length > 0);
      await cluster.stop();
      assert.ok(!existsSync(cluster.dir), `${cluster.dir} is still there`);
      const left = readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            const env = readFileSync(`/proc/${p}/environ`, "utf8");
            const stat = readFileSync(`/proc/${p}/stat`, "utf8");
            return !/^\d+ \(.*\) Z/.test(stat) && (pids.includes(Number(p)) || names.some((n) => env.includes(`RABBITMQ_NODENAME=${n}`)));
          } catch {
            return false;
          }
        });
      assert.deepEqual(left, []);
    });
  });
});
