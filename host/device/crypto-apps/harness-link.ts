/// <reference path="../../../typings/index.d.ts" />
/**
 * Device side of the crypto test apps (conformance.ts, bench.ts) in the SDK's desktop simulator:
 * one loopback TCP connection (ECMA-419 `embedded:io/socket/tcp`) to the host program that built
 * and started the app (host/device/crypto-apps.ts), which listens on the port given to mcconfig
 * as `harnessPort=N`. Messages both ways: a 32-bit big-endian length, then UTF-8 JSON. The app
 * says hello first; the host then sends requests and reads the answers.
 */
import TCP from "embedded:io/socket/tcp";
import config from "mc/config";
import { utf8DecodeOrThrow as utf8Decode, utf8Encode } from "../../../protocol/bytes.js";

const HEADER = 4;

export class HarnessLink {
  private readonly socket: TCP;
  private room = 0;
  private open = false;
  private pending = new Uint8Array(0);
  private readonly queue: Uint8Array[] = [];

  constructor(
    hello: unknown,
    private readonly onMessage: (message: unknown) => void,
  ) {
    const port = Number(config["harnessPort"]);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error("harnessPort is not set (mcconfig ... harnessPort=N)");
    const self = this;
    this.socket = new TCP({
      address: "127.0.0.1",
      port,
      nodelay: true,
      onWritable(count: number) {
        self.room = count;
        if (!self.open) {
          self.open = true;
          self.send(hello);
        }
        self.flush();
      },
      onReadable(count: number) {
        const data = this.read(count);
        if (data) self.received(new Uint8Array(data));
      },
      onError() {
        self.open = false;
      },
    });
  }

  send(message: unknown): void {
    const body = utf8Encode(JSON.stringify(message));
    const framed = new Uint8Array(HEADER + body.length);
    const n = body.length;
    framed[0] = (n >>> 24) & 0xff;
    framed[1] = (n >>> 16) & 0xff;
    framed[2] = (n >>> 8) & 0xff;
    framed[3] = n & 0xff;
    framed.set(body, HEADER);
    this.queue.push(framed);
    this.flush();
  }

  /** Writes what the socket has room for; onWritable calls again when there is more. */
  private flush(): void {
    while (this.open && this.queue.length > 0 && this.room > 0) {
      const head = this.queue[0];
      const take = Math.min(this.room, head.length);
      this.room = this.socket.write(head.slice(0, take).buffer);
      if (take === head.length) this.queue.shift();
      else this.queue[0] = head.slice(take);
    }
  }

  private received(bytes: Uint8Array): void {
    const all = new Uint8Array(this.pending.length + bytes.length);
    all.set(this.pending, 0);
    all.set(bytes, this.pending.length);
    let offset = 0;
    while (all.length - offset >= HEADER) {
      const n = ((all[offset] << 24) >>> 0) + (all[offset + 1] << 16) + (all[offset + 2] << 8) + all[offset + 3];
      if (all.length - offset < HEADER + n) break;
      const text = utf8Decode(all.subarray(offset + HEADER, offset + HEADER + n));
      offset += HEADER + n;
      this.onMessage(JSON.parse(text));
    }
    this.pending = all.slice(offset);
  }
}
