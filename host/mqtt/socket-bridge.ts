/**
 * The host end of the virtual board's network (hal/sim/socket-network.ts): each socket the firmware
 * opens becomes a real TCP or TLS connection from this process. TLS is verified against the CA
 * the host was given (the test CA of host/mqtt/broker.ts), as the device's TLS stack verifies
 * against the CA its build carries. With a client identity (mutual TLS) the host plays the board's
 * TLS stack: it presents the device certificate and signs the handshake with the device's key,
 * as the SDK's TLS does on the device. Only loopback destinations are allowed.
 */
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { NetworkEventKind } from "../../hal/sim/socket-network.js";
import type { TlsOptions } from "../../hal/contracts/socket.js";
import { derToPem, p256PrivateKeyObject } from "../provision/x509.js";
import { NodeCrypto } from "../crypto/node-crypto.js";

/** node:tls options for a client identity: the certificate in PEM, the P-256 key as a KeyObject. */
export function tlsClientOptions(client: TlsOptions["client"]): { cert: string; key: string } | Record<string, never> {
  if (!client) return {};
  const publicKey = new NodeCrypto().signatureKeyPair("ES256", client.privateKey).publicKey;
  return { cert: derToPem(client.certificate), key: p256PrivateKeyObject(client.privateKey, publicKey).export({ type: "pkcs8", format: "pem" }).toString() };
}

export interface SocketBridgeOptions {
  /** CA certificates (PEM) for TLS connections. */
  caPem?: string;
  /** Called for each event of a socket; the simulator hands it to the board. */
  emit(id: number, kind: NetworkEventKind, data?: Uint8Array): void;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);

export class HostSocketBridge {
  private readonly sockets = new Map<number, Socket>();

  constructor(private readonly o: SocketBridgeOptions) {}

  open(id: number, host: string, port: number, secure: TlsOptions | null): void {
    if (!LOOPBACK.has(host)) {
      setImmediate(() => this.o.emit(id, "error", new TextEncoder().encode(`only loopback destinations are allowed, not ${host}`)));
      return;
    }
    const target = host === "localhost" ? "127.0.0.1" : host;
    const s: Socket = secure
      ? tlsConnect({ host: target, port, ca: this.o.caPem, servername: isIP(secure.serverName) ? undefined : secure.serverName, ...tlsClientOptions(secure.client) })
      : netConnect(port, target);
    this.sockets.set(id, s);
    s.once(secure ? "secureConnect" : "connect", () => this.o.emit(id, "connect"));
    s.on("data", (d: Buffer) => this.o.emit(id, "data", new Uint8Array(d)));
    s.once("error", (e) => this.end(id, e.message));
    s.once("close", () => this.end(id, "connection closed"));
  }

  write(id: number, data: Uint8Array): void {
    const s = this.sockets.get(id);
    if (s && !s.destroyed) s.write(data);
  }

  close(id: number): void {
    const s = this.sockets.get(id);
    if (!s) return;
    this.sockets.delete(id);
    s.destroy();
  }

  closeAll(): void {
    for (const id of [...this.sockets.keys()]) this.close(id);
  }

  get open_(): number {
    return this.sockets.size;
  }

  private end(id: number, reason: string): void {
    if (!this.sockets.has(id)) return;
    this.sockets.delete(id);
    this.o.emit(id, "error", new TextEncoder().encode(reason));
  }
}

/**
 * Connects a simulator engine's board to real sockets. For XS the board's socket operations
 * arrive as host commands ("O", "X", "K", see entry/xsnap-worker.ts) and the events wait here
 * until the engine's next request carries them in ("E"); on Node the events go straight to the
 * board's network, which runs them at the next virtual instant.
 */
export class NetworkRelay {
  caPem: string | undefined;
  private bridge: HostSocketBridge | null = null;
  private pending: { id: number; kind: NetworkEventKind; data?: Uint8Array }[] = [];
  private direct: ((id: number, kind: NetworkEventKind, data?: Uint8Array) => void) | null = null;

  private get sockets(): HostSocketBridge {
    if (!this.bridge) {
      this.bridge = new HostSocketBridge({
        caPem: this.caPem,
        emit: (id, kind, data) => {
          if (this.direct) this.direct(id, kind, data);
          else this.pending.push({ id, kind, data });
        },
      });
    }
    return this.bridge;
  }

  /** A network host for a board on Node whose events go to `deliver`. */
  hostFor(deliver: (id: number, kind: NetworkEventKind, data?: Uint8Array) => void): { open: HostSocketBridge["open"]; write: HostSocketBridge["write"]; close: HostSocketBridge["close"] } {
    this.direct = deliver;
    const s = this.sockets;
    return { open: (id, h, p, sec) => s.open(id, h, p, sec), write: (id, d) => s.write(id, d), close: (id) => s.close(id) };
  }

  /** Handles an XS -> host network command; false when `op` is not one. */
  handleXs(op: string, body: Uint8Array): boolean {
    if (op === "O") {
      const o = JSON.parse(new TextDecoder().decode(body)) as { id: number; host: string; port: number; secure: { serverName: string; clientCertificate?: string; clientKey?: string } | null };
      const s = o.secure;
      const secure: TlsOptions | null = s
        ? { serverName: s.serverName, ...(s.clientCertificate && s.clientKey ? { client: { certificate: Buffer.from(s.clientCertificate, "hex"), privateKey: Buffer.from(s.clientKey, "hex") } } : {}) }
        : null;
      this.sockets.open(o.id, o.host, o.port, secure);
    } else if (op === "X") this.sockets.write(new DataView(body.buffer, body.byteOffset).getUint32(0), body.slice(4));
    else if (op === "K") this.sockets.close(new DataView(body.buffer, body.byteOffset).getUint32(0));
    else return false;
    return true;
  }

  /** Events waiting for the XS machine, encoded for its "E" operation; null when none. */
  takeXsEvents(): Uint8Array | null {
    if (this.pending.length === 0) return null;
    const kinds: Record<NetworkEventKind, number> = { connect: 0, data: 1, error: 2 };
    let size = 1;
    for (const e of this.pending) size += 9 + (e.data?.length ?? 0);
    const out = new Uint8Array(size);
    const v = new DataView(out.buffer);
    out[0] = "E".charCodeAt(0);
    let at = 1;
    for (const e of this.pending) {
      out[at] = kinds[e.kind];
      v.setUint32(at + 1, e.id);
      v.setUint32(at + 5, e.data?.length ?? 0);
      if (e.data) out.set(e.data, at + 9);
      at += 9 + (e.data?.length ?? 0);
    }
    this.pending = [];
    return out;
  }

  close(): void {
    this.bridge?.closeAll();
    this.pending = [];
  }
}
