/**
 * MQTT 3.1.1 (OASIS) packets the wearable and the gateway need: CONNECT (with a will, user name
 * and password), CONNACK, PUBLISH (QoS 0 and 1), PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP,
 * DISCONNECT. `MqttReader` takes bytes as they arrive from a socket and returns whole packets;
 * malformed input gives a typed error (the connection must then be closed), never an exception.
 */
import { utf8Encode } from "./bytes.js";

export const MQTT_CONNECT = 1;
export const MQTT_CONNACK = 2;
export const MQTT_PUBLISH = 3;
export const MQTT_PUBACK = 4;
export const MQTT_SUBSCRIBE = 8;
export const MQTT_SUBACK = 9;
export const MQTT_PINGREQ = 12;
export const MQTT_PINGRESP = 13;
export const MQTT_DISCONNECT = 14;

/** Largest packet the reader accepts (remaining length); bigger ones are an error. */
export const MQTT_MAX_PACKET = 8192;

export type MqttPacket =
  | { type: "connack"; sessionPresent: boolean; returnCode: number }
  | { type: "publish"; topic: string; payload: Uint8Array; qos: 0 | 1 | 2; dup: boolean; retain: boolean; packetId: number }
  | { type: "puback"; packetId: number }
  | { type: "suback"; packetId: number; granted: number[] }
  | { type: "pingresp" }
  | { type: "pingreq" }
  | { type: "connect"; clientId: string; username: string | null }
  | { type: "subscribe"; packetId: number; topics: string[] }
  | { type: "disconnect" };

export type MqttError =
  | { code: "bad-length" }
  | { code: "too-large"; length: number }
  | { code: "unknown-type"; type: number }
  | { code: "bad-flags"; type: number; flags: number }
  | { code: "malformed"; type: number; detail: string };

export type MqttReadResult = { ok: true; packets: MqttPacket[] } | { ok: false; error: MqttError };

export interface ConnectOptions {
  clientId: string;
  username?: string;
  password?: string;
  keepAliveS: number;
  cleanSession: boolean;
  will?: { topic: string; payload: Uint8Array; qos: 0 | 1; retain: boolean };
}

/** Strict UTF-8 decoding; null for invalid sequences or U+0000 (forbidden in MQTT strings). */
function fromUtf8(b: Uint8Array): string | null {
  let s = "";
  for (let i = 0; i < b.length; ) {
    const x = b[i++];
    let c: number;
    let n: number;
    if (x < 0x80) {
      c = x;
      n = 0;
    } else if (x >= 0xc2 && x < 0xe0) {
      c = x & 31;
      n = 1;
    } else if (x >= 0xe0 && x < 0xf0) {
      c = x & 15;
      n = 2;
    } else if (x >= 0xf0 && x < 0xf5) {
      c = x & 7;
      n = 3;
    } else return null;
    if (i + n > b.length) return null;
    for (let k = 0; k < n; k++) {
      const y = b[i++];
      if ((y & 0xc0) !== 0x80) return null;
      c = (c << 6) | (y & 63);
    }
    if ((n === 2 && c < 0x800) || (n === 3 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff) || c === 0) return null;
    s += String.fromCodePoint(c);
  }
  return s;
}

class Writer {
  private parts: number[] = [];
  byte(b: number): this {
    this.parts.push(b & 0xff);
    return this;
  }
  u16(n: number): this {
    return this.byte(n >> 8).byte(n);
  }
  bytes(b: Uint8Array): this {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]);
    return this;
  }
  lengthPrefixed(b: Uint8Array): this {
    return this.u16(b.length).bytes(b);
  }
  packet(first: number): Uint8Array {
    const body = this.parts;
    const len: number[] = [];
    let n = body.length;
    do {
      let d = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) d |= 0x80;
      len.push(d);
    } while (n > 0);
    const out = new Uint8Array(1 + len.length + body.length);
    out[0] = first;
    out.set(len, 1);
    out.set(body, 1 + len.length);
    return out;
  }
}

export function encodeConnect(o: ConnectOptions): Uint8Array {
  let flags = o.cleanSession ? 0x02 : 0;
  if (o.will) flags |= 0x04 | (o.will.qos << 3) | (o.will.retain ? 0x20 : 0);
  if (o.password !== undefined) flags |= 0x40;
  if (o.username !== undefined) flags |= 0x80;
  const w = new Writer().lengthPrefixed(utf8Encode("MQTT")).byte(4).byte(flags).u16(o.keepAliveS).lengthPrefixed(utf8Encode(o.clientId));
  if (o.will) w.lengthPrefixed(utf8Encode(o.will.topic)).lengthPrefixed(o.will.payload);
  if (o.username !== undefined) w.lengthPrefixed(utf8Encode(o.username));
  if (o.password !== undefined) w.lengthPrefixed(utf8Encode(o.password));
  return w.packet(MQTT_CONNECT << 4);
}

export function encodePublish(topic: string, payload: Uint8Array, qos: 0 | 1, packetId: number, dup = false, retain = false): Uint8Array {
  const w = new Writer().lengthPrefixed(utf8Encode(topic));
  if (qos > 0) w.u16(packetId);
  w.bytes(payload);
  return w.packet((MQTT_PUBLISH << 4) | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0));
}

export function encodePuback(packetId: number): Uint8Array {
  return new Writer().u16(packetId).packet(MQTT_PUBACK << 4);
}

export function encodeSubscribe(packetId: number, topics: { topic: string; qos: 0 | 1 }[]): Uint8Array {
  const w = new Writer().u16(packetId);
  for (const t of topics) w.lengthPrefixed(utf8Encode(t.topic)).byte(t.qos);
  return w.packet((MQTT_SUBSCRIBE << 4) | 2);
}

export function encodePingreq(): Uint8Array {
  return new Uint8Array([MQTT_PINGREQ << 4, 0]);
}

export function encodeDisconnect(): Uint8Array {
  return new Uint8Array([MQTT_DISCONNECT << 4, 0]);
}

/** Incremental reader: push socket bytes, get whole packets. */
/** `buffer`, or a copy twice as large (at least `used + extra`) holding its first `used` bytes when it has no room for `extra` more. */
export function withRoom<B extends ArrayBufferLike>(buffer: Uint8Array<B>, used: number, extra: number): Uint8Array<B> | Uint8Array<ArrayBuffer> {
  if (used + extra <= buffer.length) return buffer;
  const bigger = new Uint8Array(Math.max(buffer.length * 2, used + extra));
  bigger.set(buffer.subarray(0, used));
  return bigger;
}

export class MqttReader {
  private buffer = new Uint8Array(256);
  private length = 0;
  private failed: MqttError | null = null;

  constructor(private readonly maxPacket = MQTT_MAX_PACKET) {}

  push(data: Uint8Array): MqttReadResult {
    if (this.failed) return { ok: false, error: this.failed };
    this.buffer = withRoom(this.buffer, this.length, data.length);
    this.buffer.set(data, this.length);
    this.length += data.length;
    const packets: MqttPacket[] = [];
    let start = 0;
    while (start < this.length) {
      const b = this.buffer;
      let remaining = 0;
      let mult = 1;
      let i = start + 1;
      let complete = false;
      for (let k = 0; k < 4; k++) {
        if (i >= this.length) break;
        const d = b[i++];
        remaining += (d & 0x7f) * mult;
        mult *= 128;
        if ((d & 0x80) === 0) {
          complete = true;
          break;
        }
        if (k === 3) return this.fail({ code: "bad-length" });
      }
      if (!complete) break;
      if (remaining > this.maxPacket) return this.fail({ code: "too-large", length: remaining });
      if (i + remaining > this.length) break;
      const r = parsePacket(b[start], b.subarray(i, i + remaining));
      if (!r.ok) return this.fail(r.error);
      packets.push(r.packet);
      start = i + remaining;
    }
    this.buffer.copyWithin(0, start, this.length);
    this.length -= start;
    if (this.buffer.length > 4 * this.maxPacket && this.length < this.maxPacket) this.buffer = this.buffer.slice(0, Math.max(256, this.length));
    return { ok: true, packets };
  }

  private fail(error: MqttError): MqttReadResult {
    this.failed = error;
    return { ok: false, error };
  }
}

type ParseResult = { ok: true; packet: MqttPacket } | { ok: false; error: MqttError };

function parsePacket(first: number, body: Uint8Array): ParseResult {
  const type = first >> 4;
  const flags = first & 15;
  const bad = (detail: string): ParseResult => ({ ok: false, error: { code: "malformed", type, detail } });
  const u16 = (at: number) => (body[at] << 8) | body[at + 1];
  switch (type) {
    case MQTT_CONNACK:
      if (flags) return { ok: false, error: { code: "bad-flags", type, flags } };
      if (body.length !== 2 || body[0] > 1) return bad("CONNACK is 2 bytes");
      return { ok: true, packet: { type: "connack", sessionPresent: body[0] === 1, returnCode: body[1] } };
    case MQTT_PUBLISH: {
      const qos = (flags >> 1) & 3;
      if (qos === 3) return { ok: false, error: { code: "bad-flags", type, flags } };
      if (body.length < 2) return bad("no topic");
      const tl = u16(0);
      if (2 + tl + (qos ? 2 : 0) > body.length) return bad("topic past the end");
      const topic = fromUtf8(body.subarray(2, 2 + tl));
      if (topic === null || topic.length === 0 || topic.includes("+") || topic.includes("#")) return bad("invalid topic");
      let at = 2 + tl;
      let packetId = 0;
      if (qos) {
        packetId = u16(at);
        at += 2;
        if (packetId === 0) return bad("packet id 0");
      }
      return { ok: true, packet: { type: "publish", topic, payload: body.slice(at), qos: qos as 0 | 1 | 2, dup: (flags & 8) !== 0, retain: (flags & 1) !== 0, packetId } };
    }
    case MQTT_PUBACK:
      if (flags) return { ok: false, error: { code: "bad-flags", type, flags } };
      if (body.length !== 2) return bad("PUBACK is 2 bytes");
      return { ok: true, packet: { type: "puback", packetId: u16(0) } };
    case MQTT_SUBACK: {
      if (flags) return { ok: false, error: { code: "bad-flags", type, flags } };
      if (body.length < 3) return bad("SUBACK needs a return code");
      const granted: number[] = [];
      for (let i = 2; i < body.length; i++) {
        if (body[i] > 2 && body[i] !== 0x80) return bad(`return code ${body[i]}`);
        granted.push(body[i]);
      }
      return { ok: true, packet: { type: "suback", packetId: u16(0), granted } };
    }
    case MQTT_PINGRESP:
    case MQTT_PINGREQ:
    case MQTT_DISCONNECT:
      if (flags) return { ok: false, error: { code: "bad-flags", type, flags } };
      if (body.length) return bad("no body expected");
      return { ok: true, packet: { type: type === MQTT_PINGRESP ? "pingresp" : type === MQTT_PINGREQ ? "pingreq" : "disconnect" } };
    case MQTT_CONNECT: {
      if (flags) return { ok: false, error: { code: "bad-flags", type, flags } };
      if (body.length < 12 || u16(0) !== 4 || fromUtf8(body.subarray(2, 6)) !== "MQTT" || body[6] !== 4) return bad("not MQTT 3.1.1");
      const cf = body[7];
      let at = 10;
      const str = (): string | null => {
        if (at + 2 > body.length) return null;
        const l = u16(at);
        if (at + 2 + l > body.length) return null;
        const s = fromUtf8(body.subarray(at + 2, at + 2 + l));
        at += 2 + l;
        return s;
      };
      const clientId = str();
      if (clientId === null) return bad("client id");
      if (cf & 4) {
        if (str() === null) return bad("will topic");
        if (at + 2 > body.length || at + 2 + u16(at) > body.length) return bad("will message");
        at += 2 + u16(at);
      }
      const username = cf & 0x80 ? str() : null;
      if (cf & 0x80 && username === null) return bad("user name");
      return { ok: true, packet: { type: "connect", clientId, username } };
    }
    case MQTT_SUBSCRIBE: {
      if (flags !== 2) return { ok: false, error: { code: "bad-flags", type, flags } };
      if (body.length < 5) return bad("SUBSCRIBE needs a topic");
      const topics: string[] = [];
      let at = 2;
      while (at < body.length) {
        if (at + 2 > body.length) return bad("topic length");
        const l = u16(at);
        if (at + 3 + l > body.length) return bad("topic past the end");
        const t = fromUtf8(body.subarray(at + 2, at + 2 + l));
        if (t === null || body[at + 2 + l] > 2) return bad("topic or QoS");
        topics.push(t);
        at += 3 + l;
      }
      return { ok: true, packet: { type: "subscribe", packetId: u16(0), topics } };
    }
    default:
      return { ok: false, error: { code: "unknown-type", type } };
  }
}
