/**
 * Link framing: splits one message (a sealed frame, an announcement, a command) into
 * notifications no larger than the link's payload limit (ATT MTU - 3 on BLE), and joins them
 * back on the other side.
 *
 * Each fragment starts with one header byte: bit 7 START, bit 6 END, bits 5..0 the message
 * number modulo 64. A START fragment then carries the message length as 2 bytes big-endian.
 * Fragments of one message arrive in order (BLE notifications are ordered on a connection).
 */
export const FRAGMENT_START = 0x80;
export const FRAGMENT_END = 0x40;
export const MAX_MESSAGE_BYTES = 4096;

export type FramingError =
  | { code: "empty-fragment" }
  | { code: "no-start"; messageNumber: number }
  | { code: "wrong-message"; expected: number; got: number }
  | { code: "too-long"; length: number }
  | { code: "length-mismatch"; declared: number; received: number };

export type ReassemblyResult =
  | { kind: "partial" }
  | { kind: "message"; message: Uint8Array }
  | { kind: "error"; error: FramingError };

/** Number of fragments a message of `length` bytes needs with payloads of `maxPayload` bytes. */
export function fragmentCount(length: number, maxPayload: number): number {
  const first = maxPayload - 3;
  if (length <= first) return 1;
  return 1 + Math.ceil((length - first) / (maxPayload - 1));
}

/** Splits `message` into fragments of at most `maxPayload` bytes (at least 4). */
export function fragmentMessage(message: Uint8Array, maxPayload: number, messageNumber: number): Uint8Array[] {
  if (maxPayload < 4) throw new RangeError("link payload below 4 bytes");
  if (message.length > MAX_MESSAGE_BYTES) throw new RangeError(`message of ${message.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  const id = messageNumber & 0x3f;
  const out: Uint8Array[] = [];
  let offset = 0;
  let first = true;
  do {
    const room = first ? maxPayload - 3 : maxPayload - 1;
    const take = Math.min(room, message.length - offset);
    const last = offset + take >= message.length;
    const head = first ? 3 : 1;
    const frag = new Uint8Array(head + take);
    frag[0] = (first ? FRAGMENT_START : 0) | (last ? FRAGMENT_END : 0) | id;
    if (first) {
      frag[1] = message.length >> 8;
      frag[2] = message.length & 0xff;
    }
    frag.set(message.subarray(offset, offset + take), head);
    out.push(frag);
    offset += take;
    first = false;
  } while (offset < message.length);
  return out;
}

/** Joins fragments back into messages; a broken sequence is reported and dropped, never thrown. */
export class FragmentReassembler {
  private buffer = new Uint8Array(MAX_MESSAGE_BYTES);
  private expectedLength = -1;
  private received = 0;
  private messageNumber = -1;

  push(fragment: Uint8Array): ReassemblyResult {
    if (fragment.length < 1) return { kind: "error", error: { code: "empty-fragment" } };
    const header = fragment[0];
    const id = header & 0x3f;
    let body: Uint8Array;
    if (header & FRAGMENT_START) {
      if (fragment.length < 3) return this.fail({ code: "empty-fragment" });
      const length = (fragment[1] << 8) | fragment[2];
      if (length > MAX_MESSAGE_BYTES) return this.fail({ code: "too-long", length });
      this.expectedLength = length;
      this.received = 0;
      this.messageNumber = id;
      body = fragment.subarray(3);
    } else {
      if (this.expectedLength < 0) return this.fail({ code: "no-start", messageNumber: id });
      if (id !== this.messageNumber) return this.fail({ code: "wrong-message", expected: this.messageNumber, got: id });
      body = fragment.subarray(1);
    }
    if (this.received + body.length > this.expectedLength) {
      return this.fail({ code: "length-mismatch", declared: this.expectedLength, received: this.received + body.length });
    }
    this.buffer.set(body, this.received);
    this.received += body.length;
    if (header & FRAGMENT_END) {
      if (this.received !== this.expectedLength) {
        return this.fail({ code: "length-mismatch", declared: this.expectedLength, received: this.received });
      }
      const message = this.buffer.slice(0, this.received);
      this.expectedLength = -1;
      return { kind: "message", message };
    }
    return { kind: "partial" };
  }

  private fail(error: FramingError): ReassemblyResult {
    this.expectedLength = -1;
    this.received = 0;
    return { kind: "error", error };
  }
}
