/**
 * The bench of the desktop simulator: the other end of hal/moddable/lin/host-link.ts. It plays
 * the BLE central (a phone or the gateway's BLE side): it connects to the advertising device
 * with an ATT MTU, subscribes to notifications, joins the frames and update notifications with
 * the link framing, and writes commands, acknowledgements and update messages split to the MTU.
 * It also receives the device's reset requests (the bench then restarts the board).
 */
import { createServer, type Server, type Socket } from "node:net";
import { FragmentReassembler, fragmentMessage } from "../../protocol/link-framing.js";

export const BENCH_MTU = 247;
const SUBSCRIBE = ["frames", "update", "measurement", "temperature"];

export interface BenchEvents {
  /** A whole message on the frames characteristic. */
  frames(message: Uint8Array): void;
  /** A whole message on the update characteristic (an ack or a signed status report). */
  update(message: Uint8Array): void;
  /** A notification of a standard characteristic (heart rate, temperature). */
  standard(name: string, value: Uint8Array): void;
  /** The device asks to be reset ("restart", "rollback"). */
  reset(reason: string): void;
  /** The central connected (after the device advertised). */
  connected(): void;
}

export class LinBench {
  private server: Server | null = null;
  private socket: Socket | null = null;
  private pending = Buffer.alloc(0);
  private framesIn = new FragmentReassembler();
  private updateIn = new FragmentReassembler();
  private writeNumber = 0;
  /** The central's connection is up (the device advertised and we connected). */
  centralUp = false;
  /** Hold the central off (a link drop): no reconnection while set. */
  radioOff = false;
  readonly counters = { notifications: 0, writes: 0, connections: 0, brokenMessages: 0 };

  constructor(private readonly events: BenchEvents) {}

  async listen(): Promise<number> {
    this.server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(0, "127.0.0.1", () => resolve());
    });
    return (this.server.address() as { port: number }).port;
  }

  /** The device's process ended (a reset): its half of the radio is gone. */
  deviceGone(): void {
    this.socket?.destroy();
    this.socket = null;
    this.centralUp = false;
    this.pending = Buffer.alloc(0);
    this.framesIn = new FragmentReassembler();
    this.updateIn = new FragmentReassembler();
  }

  /** Drops the BLE connection now; with `holdOff`, no reconnection until `radioOn()`. */
  disconnect(holdOff: boolean): void {
    if (holdOff) this.radioOff = true;
    if (this.centralUp) this.send("D", Buffer.alloc(0));
    this.centralUp = false;
    this.framesIn = new FragmentReassembler();
    this.updateIn = new FragmentReassembler();
  }

  radioOn(): void {
    this.radioOff = false;
  }

  /** Writes one message to a characteristic, split into MTU-sized writes with the link framing. */
  write(name: string, message: Uint8Array): boolean {
    if (!this.centralUp) return false;
    for (const f of fragmentMessage(message, BENCH_MTU - 3, this.writeNumber++ & 0x3f)) {
      const n = Buffer.from(name, "utf8");
      this.send("W", Buffer.concat([Buffer.of(n.length), n, Buffer.from(f)]));
      this.counters.writes++;
    }
    return true;
  }

  /** One write as it is (the update characteristic takes whole messages of at most one MTU). */
  writeRaw(name: string, value: Uint8Array): boolean {
    if (!this.centralUp || value.length > BENCH_MTU - 3) return false;
    const n = Buffer.from(name, "utf8");
    this.send("W", Buffer.concat([Buffer.of(n.length), n, Buffer.from(value)]));
    this.counters.writes++;
    return true;
  }

  async close(): Promise<void> {
    this.deviceGone();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(socket: Socket): void {
    this.socket?.destroy();
    this.socket = socket;
    this.centralUp = false;
    this.pending = Buffer.alloc(0);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 3) {
        const length = this.pending.readUInt16BE(1);
        if (this.pending.length < 3 + length) break;
        const type = String.fromCharCode(this.pending[0]);
        const payload = this.pending.subarray(3, 3 + length);
        this.pending = this.pending.subarray(3 + length);
        this.frame(type, new Uint8Array(payload));
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      if (this.socket === socket) this.deviceGone();
    });
  }

  private send(type: string, payload: Buffer): void {
    const header = Buffer.alloc(3);
    header[0] = type.charCodeAt(0);
    header.writeUInt16BE(payload.length, 1);
    this.socket?.write(Buffer.concat([header, payload]));
  }

  private frame(type: string, payload: Uint8Array): void {
    if (type === "A") {
      if (this.centralUp || this.radioOff) return;
      this.centralUp = true;
      this.counters.connections++;
      this.send("C", Buffer.from([BENCH_MTU >> 8, BENCH_MTU & 0xff]));
      for (const name of SUBSCRIBE) this.send("S", Buffer.concat([Buffer.of(1), Buffer.from(name, "utf8")]));
      this.events.connected();
    } else if (type === "N" && payload.length >= 1) {
      this.counters.notifications++;
      const name = Buffer.from(payload.subarray(1, 1 + payload[0])).toString("utf8");
      const value = payload.subarray(1 + payload[0]);
      if (name === "frames" || name === "update") {
        const r = (name === "frames" ? this.framesIn : this.updateIn).push(value);
        if (r.kind === "error") this.counters.brokenMessages++;
        else if (r.kind === "message") (name === "frames" ? this.events.frames : this.events.update).call(this.events, r.message);
      } else this.events.standard(name, value);
    } else if (type === "R") {
      this.events.reset(Buffer.from(payload).toString("utf8"));
    }
  }
}
