import type { SocketOpener, SocketOptions, TcpSocket, TlsOptions } from "../contracts/socket.js";
import type { Timers } from "../contracts/timer.js";
import { utf8DecodeLossy } from "../contracts/bytes.js";

/**
 * What carries the virtual board's sockets to real ones: the host side of the simulator (through
 * the XS bridge, or directly on Node) opens a real TCP/TLS connection for each `open`.
 */
export interface NetworkHost {
  open(id: number, host: string, port: number, secure: TlsOptions | null): void;
  write(id: number, data: Uint8Array): void;
  close(id: number): void;
}

export type NetworkEventKind = "connect" | "data" | "error";

export interface SimNetworkCounters {
  opened: number;
  bytesOut: number;
  bytesIn: number;
}

/**
 * The virtual board's network interface. Sockets are forwarded to a `NetworkHost`; the host
 * reports connection events with `deliver`, and the firmware sees them at the next virtual
 * instant (a zero-delay timer), in order. Without a host every open fails. `down` simulates a
 * Wi-Fi loss: every socket errors and opens fail until it is cleared.
 */
export class SimNetwork {
  host: NetworkHost | null = null;
  readonly counters: SimNetworkCounters = { opened: 0, bytesOut: 0, bytesIn: 0 };
  private readonly sockets = new Map<number, SocketOptions>();
  private nextId = 1;
  private isDown = false;

  constructor(private readonly timers: Timers) {}

  readonly open: SocketOpener = (options) => {
    const id = this.nextId++;
    this.counters.opened++;
    this.sockets.set(id, options);
    const host = this.host;
    if (!host || this.isDown) {
      this.timers.set(() => this.fail(id, host ? "network down" : "no network on this board"), 0);
    } else host.open(id, options.host, options.port, options.secure ?? null);
    const net = this;
    const socket: TcpSocket = {
      write(data: Uint8Array): boolean {
        if (!net.sockets.has(id) || !net.host) return false;
        net.counters.bytesOut += data.length;
        net.host.write(id, data.slice());
        return true;
      },
      close(): void {
        if (!net.sockets.delete(id)) return;
        if (net.host) net.host.close(id);
      },
    };
    return socket;
  };

  get down(): boolean {
    return this.isDown;
  }

  /** Wi-Fi lost (true) or back (false); losing it errors every open socket. */
  setDown(down: boolean): void {
    this.isDown = down;
    if (down) for (const id of [...this.sockets.keys()]) this.fail(id, "network down");
  }

  /** An event from the host for socket `id` (ignored once the socket is closed). */
  deliver(id: number, kind: NetworkEventKind, data?: Uint8Array): void {
    this.timers.set(() => {
      const s = this.sockets.get(id);
      if (!s) return;
      if (kind === "connect") s.onConnect();
      else if (kind === "data" && data) {
        this.counters.bytesIn += data.length;
        s.onReadable(data);
      } else if (kind === "error") this.fail(id, data ? utf8DecodeLossy(data) : "connection closed");
    }, 0);
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  private fail(id: number, message: string): void {
    const s = this.sockets.get(id);
    if (!s) return;
    this.sockets.delete(id);
    if (this.host) this.host.close(id);
    s.onError(message);
  }
}
