/**
 * A gateway worker on the clustered broker (host/cluster/rabbitmq.ts): consumes the device stream
 * over AMQP from the partition queues, hands it to the BatchGateway in batches, and after each
 * batch is committed to the shared store publishes the replies to the devices (through the
 * broker's MQTT side: routing key `wearable.<device>.acks`) and acknowledges the deliveries.
 *
 * Competing consumers: every worker subscribes to every partition; a partition has a single active
 * consumer, so a device's stream is handled by one worker at a time, and when that worker dies the
 * broker makes another one active and delivers again what was not acknowledged. A worker
 * subscribes first to its own share of the partitions (index k of W: those with p mod W = k) and
 * to the others a moment later, so that the partitions spread over the workers.
 *
 * Failures: a lost connection (a broker node down) or a failed commit (the database down) closes
 * the channel, so that the broker requeues what this worker held; the worker drops its in-memory
 * state (BatchGateway.reset), waits for the store and connects again, to the next node in its list.
 */
import { connect, type Channel, type ChannelModel, type ConsumeMessage } from "amqplib";
import { fragmentMessage } from "../../protocol/link-framing.js";
import type { BatchGateway } from "./batch-gateway.js";

/** The exchange the broker's MQTT side publishes to and reads from. */
export const MQTT_EXCHANGE = "amq.topic";
const FRAMES_KEY = /^wearable\.([0-9a-f]{16})\.frames$/;

export interface AmqpWorkerOptions {
  /** AMQP URLs of the cluster's nodes; the worker uses the first that answers and moves on when it is lost. */
  urls: string[];
  /** Partition queue names (wearable.frames.0 ...). */
  partitions: string[];
  /** This worker's index and the number of workers: which partitions it subscribes to first. */
  index: number;
  workers: number;
  gateway: BatchGateway;
  /** Deliveries per batch at most (default 256); a batch also closes after `batchDelayMs`. */
  batchSize?: number;
  batchDelayMs?: number;
  /** Delay before subscribing to the other workers' partitions, as a standby (ms, default 1500). */
  standbyDelayMs?: number;
  /** Checks that the store answers again after a failed commit (resolves when it does). */
  /** Resolves when the store answers again, or as soon as `stop()` is true (the worker is closing). */
  storeReady: (stop: () => boolean) => Promise<void>;
  log?: (line: string) => void;
}

export interface AmqpWorkerStats {
  deliveries: number;
  redeliveries: number;
  batches: number;
  stored: number;
  alreadyStored: number;
  replies: number;
  connections: number;
  storeFailures: number;
  ignored: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class AmqpGatewayWorker {
  readonly stats: AmqpWorkerStats = { deliveries: 0, redeliveries: 0, batches: 0, stored: 0, alreadyStored: 0, replies: 0, connections: 0, storeFailures: 0, ignored: 0 };
  private conn: ChannelModel | null = null;
  private channel: Channel | null = null;
  /** Connections by generation, until they close. */
  private readonly connections = new Map<number, ChannelModel>();
  /** Bumped at every (re)connection: deliveries of an older channel are never acknowledged on a newer one. */
  private generation = 0;
  private buffer: ConsumeMessage[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;
  private nextUrl = 0;
  private readonly batchSize: number;
  private readonly batchDelayMs: number;
  private readonly say: (line: string) => void;
  private readonly ackNumbers = new Map<string, number>();
  private restarting: Promise<void> | null = null;
  private standbyTimer: NodeJS.Timeout | null = null;

  private constructor(private readonly o: AmqpWorkerOptions) {
    this.batchSize = o.batchSize ?? 256;
    this.batchDelayMs = o.batchDelayMs ?? 10;
    this.say = o.log ?? (() => {});
  }

  /** Connects and subscribes; resolves once consuming (retries the nodes in turn until one answers). */
  static async start(o: AmqpWorkerOptions): Promise<AmqpGatewayWorker> {
    if (o.urls.length === 0) throw new Error("gateway worker: no broker URL given");
    const w = new AmqpGatewayWorker(o);
    await w.connectLoop();
    return w;
  }

  private async connectLoop(): Promise<void> {
    let delay = 200;
    while (!this.closed) {
      const url = this.o.urls[this.nextUrl % this.o.urls.length];
      this.nextUrl++;
      try {
        await this.open(url);
        return;
      } catch (e) {
        this.say(`gateway worker ${this.o.index}: cannot use ${redact(url)} (${(e as Error).message}); trying the next node in ${delay} ms`);
        await sleep(delay);
        delay = Math.min(5_000, delay * 2);
      }
    }
  }

  private async open(url: string): Promise<void> {
    const conn = await connect(url, { timeout: 5_000 });
    const gen = ++this.generation;
    this.connections.set(gen, conn);
    conn.on("error", () => {});
    // Only a connection that finished opening restarts the worker when it goes; one that failed
    // half-way is closed here and the connect loop tries the next node.
    conn.on("close", () => {
      this.connections.delete(gen);
      if (gen === this.generation && this.conn === conn && !this.closed) this.restart(`lost the connection to ${redact(url)}`);
    });
    let ch: Channel;
    let own: string[];
    let others: string[];
    try {
      ch = await conn.createChannel();
      ch.on("error", () => {});
      ch.on("close", () => {
        if (gen === this.generation && this.conn === conn && !this.closed) this.restart("the broker closed the channel");
      });
      await ch.prefetch(this.batchSize * 2);
      own = this.o.partitions.filter((_, p) => p % this.o.workers === this.o.index);
      others = this.o.partitions.filter((_, p) => p % this.o.workers !== this.o.index);
      for (const q of own) await ch.consume(q, (m) => this.onDelivery(gen, m), { noAck: false });
    } catch (e) {
      // Consumers made before the failure must not keep their partitions (a single active
      // consumer whose deliveries nobody takes would hold them): the connection goes.
      await forceClose(conn);
      throw e;
    }
    this.conn = conn;
    this.channel = ch;
    this.stats.connections++;
    this.say(`gateway worker ${this.o.index}: connected to ${redact(url)}; consuming ${own.length} partition(s), standby on ${others.length}`);
    this.standbyTimer = setTimeout(() => {
      if (gen !== this.generation || this.closed) return;
      for (const q of others) ch.consume(q, (m) => this.onDelivery(gen, m), { noAck: false }).catch(() => {});
    }, this.o.standbyDelayMs ?? 1_500);
  }

  /** Drops the channel and the in-memory state, then connects again (once at a time). */
  private restart(why: string): void {
    if (this.restarting || this.closed) return;
    this.say(`gateway worker ${this.o.index}: ${why}; the broker requeues what was not acknowledged`);
    this.generation++;
    this.buffer = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.standbyTimer) clearTimeout(this.standbyTimer);
    const conn = this.conn;
    this.conn = null;
    this.channel = null;
    this.restarting = (async () => {
      if (conn) await forceClose(conn);
      // A batch in flight finishes (its commit is valid) before the state is dropped.
      await this.flushing;
      this.o.gateway.reset();
      await this.o.storeReady(() => this.closed);
      if (this.closed) return;
      await sleep(200);
      await this.connectLoop();
    })().finally(() => {
      this.restarting = null;
    });
  }

  private onDelivery(gen: number, m: ConsumeMessage | null): void {
    if (m === null) {
      // The broker cancelled the consumer (its queue's leader moved or was deleted): start again.
      if (gen === this.generation) this.restart("the broker cancelled a subscription");
      return;
    }
    if (gen !== this.generation) {
      // A delivery on a connection the worker left: that connection still holds a partition;
      // closing it hands the partition (and this delivery) on.
      const stale = this.connections.get(gen);
      if (stale) {
        this.connections.delete(gen);
        void forceClose(stale);
      }
      return;
    }
    this.buffer.push(m);
    if (this.buffer.length >= this.batchSize) this.kick();
    else if (!this.timer) this.timer = setTimeout(() => this.kick(), this.batchDelayMs);
  }

  private kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.flushing) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
      if (this.buffer.length && !this.closed) this.kick();
    });
  }

  private async flush(): Promise<void> {
    while (this.buffer.length) {
      const gen = this.generation;
      const ch = this.channel;
      const batch = this.buffer.splice(0, this.batchSize);
      if (!ch) return;
      const fragments = [];
      for (const m of batch) {
        this.stats.deliveries++;
        if (m.fields.redelivered) this.stats.redeliveries++;
        const key = FRAMES_KEY.exec(m.fields.routingKey);
        if (!key) {
          this.stats.ignored++;
          continue;
        }
        fragments.push({ device: key[1], payload: new Uint8Array(m.content.buffer, m.content.byteOffset, m.content.byteLength) });
      }
      let outcome;
      try {
        outcome = await this.o.gateway.process(fragments);
      } catch (e) {
        this.stats.storeFailures++;
        this.restart(`the store failed (${(e as Error).message.split("\n")[0]})`);
        return;
      }
      this.stats.batches++;
      this.stats.stored += outcome.stored;
      this.stats.alreadyStored += outcome.alreadyStored;
      if (gen !== this.generation) return;
      // Stored: now the devices may learn it, and the broker may forget the deliveries.
      for (const r of outcome.replies) {
        const n = this.ackNumbers.get(r.device) ?? 0;
        this.ackNumbers.set(r.device, (n + 1) & 0x3f);
        ch.publish(MQTT_EXCHANGE, `wearable.${r.device}.acks`, Buffer.from(fragmentMessage(r.message, 64, n)[0]));
        this.stats.replies++;
      }
      try {
        for (const m of batch) ch.ack(m);
      } catch {
        /* the channel closed meanwhile: the broker delivers these again, and they are duplicates */
      }
    }
  }

  /** Stops consuming and closes the connection; a batch in flight finishes first. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.standbyTimer) clearTimeout(this.standbyTimer);
    await this.flushing;
    await this.restarting?.catch(() => {});
    for (const c of [this.conn, ...this.connections.values()]) if (c) await forceClose(c);
    this.connections.clear();
  }
}

/**
 * Closes an AMQP connection, and if the broker does not confirm within 2 s (a node that stopped
 * answering), drops its socket: either way the broker ends its consumers.
 */
async function forceClose(conn: ChannelModel): Promise<void> {
  try {
    await Promise.race([conn.close(), sleep(2_000)]);
  } catch {
    /* already closed */
  }
  try {
    (conn as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  } catch {
    /* gone */
  }
}

/** An AMQP URL without its password, for logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
}
