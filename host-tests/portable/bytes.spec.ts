/**
 * The one bytes and text module (hal/contracts/bytes.ts, imported as protocol/bytes.ts above the
 * HAL): UTF-8 in its three strictnesses, clipping to a UTF-8 length, hex, comparison, and the
 * wire formats that encode text through it. Runs on Node and inside XS.
 */
import { assert, assertEqual, assertThrows, suite, test } from "./harness.js";
import {
  bytesEqual,
  clipUtf8,
  compareBytes,
  concatBytes,
  constantTimeEqual,
  fromHex,
  hexToBytes,
  toHex,
  utf8Decode,
  utf8DecodeLossy,
  utf8DecodeOrThrow,
  utf8Encode,
  utf8Length,
} from "../../protocol/bytes.js";
import { encodeConnect, encodeSubscribe } from "../../protocol/mqtt.js";

const LONE_HIGH = "\ud83d";
const EMOJI = "\ud83d\ude00";

suite("bytes: one UTF-8, hex and comparison for every layer", () => {
  test("UTF-8: lengths agree with the encoder, a lone surrogate is U+FFFD", () => {
    for (const s of ["", "abc", "h\u00e9llo \u20ac", EMOJI, `a${LONE_HIGH}b`, `${LONE_HIGH}`, "\udc00x"]) {
      assertEqual(utf8Length(s), utf8Encode(s).length, `length of ${JSON.stringify(s)}`);
    }
    assertEqual(toHex(utf8Encode(`a${LONE_HIGH}`)), "61efbfbd");
    assertEqual(utf8Decode(utf8Encode(`x${EMOJI}y`)), `x${EMOJI}y`);
  });

  test("strict, throwing and lossy decoding", () => {
    const bad = fromHex("61c32862")!;
    assertEqual(utf8Decode(bad), null);
    assertThrows(() => utf8DecodeOrThrow(bad), /not valid UTF-8/);
    assertEqual(utf8DecodeLossy(bad), "a\ufffd(b");
    assertEqual(utf8DecodeLossy(fromHex("e282")!), "\ufffd\ufffd", "cut short");
    assertEqual(utf8DecodeLossy(utf8Encode("\u20ac")), "\u20ac");
  });

  test("clipUtf8 cuts at a character boundary and never splits a surrogate pair", () => {
    assertEqual(clipUtf8("abcdef", 4), "abcd");
    assertEqual(clipUtf8(`abc${EMOJI}`, 6), "abc", "the pair would need 4 more bytes");
    assertEqual(clipUtf8(`abc${EMOJI}`, 7), `abc${EMOJI}`);
    assertEqual(clipUtf8("\u20ac\u20ac", 5), "\u20ac");
    for (let max = 0; max < 12; max++) {
      const out = clipUtf8(`a\u00e9${EMOJI}\u20acz`, max);
      assert(utf8Length(out) <= max, `clipped to ${max}`);
      assertEqual(utf8Decode(utf8Encode(out)), out, "valid UTF-8");
    }
  });

  test("hex, concatenation and comparison", () => {
    assertEqual(toHex(hexToBytes("00FFa5")), "00ffa5");
    assertEqual(fromHex("abc"), null);
    assertEqual(fromHex("zz"), null);
    assertThrows(() => hexToBytes("0g"), /not a hex string/);
    const ab = concatBytes(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3));
    assertEqual(toHex(ab), "010203");
    assert(bytesEqual(ab, Uint8Array.of(1, 2, 3)) && constantTimeEqual(ab, Uint8Array.of(1, 2, 3)));
    assert(!bytesEqual(ab, Uint8Array.of(1, 2)) && !constantTimeEqual(ab, Uint8Array.of(1, 2, 4)));
    assert(compareBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3)) < 0 && compareBytes(Uint8Array.of(1, 2, 0), Uint8Array.of(1, 2)) > 0);
  });

  test("MQTT strings are valid UTF-8, a lone surrogate included (MQTT 3.1.1 section 1.5.3)", () => {
    const packet = encodeConnect({ clientId: `dev${LONE_HIGH}`, keepAliveS: 60, cleanSession: true });
    // The client id is the packet's last string: length, then its bytes.
    const id = packet.subarray(packet.length - 8);
    assertEqual(toHex(id), `0006${toHex(utf8Encode("dev"))}efbfbd`);
    const sub = encodeSubscribe(1, [{ topic: `t/${LONE_HIGH}`, qos: 1 }]);
    assert(utf8Decode(sub, 6, sub.length - 1) !== null, "the topic is valid UTF-8");
  });
});
