import { FragmentReassembler, fragmentCount, fragmentMessage } from "../../protocol/link-framing.js";
import { assert, assertEqual, seededRandom, suite, test } from "./harness.js";

suite("link framing", () => {
  test("splits to the payload limit and joins back, for every size up to 600 bytes at MTU 23", () => {
    const rnd = seededRandom(5);
    const r = new FragmentReassembler();
    for (let len = 0; len <= 600; len += 7) {
      const msg = new Uint8Array(len);
      for (let i = 0; i < len; i++) msg[i] = Math.floor(rnd() * 256);
      const frags = fragmentMessage(msg, 20, len);
      assertEqual(frags.length, fragmentCount(len, 20), `count for ${len}`);
      for (const f of frags) assert(f.length <= 20, "fragment over the limit");
      let got: Uint8Array | null = null;
      for (let i = 0; i < frags.length; i++) {
        const res = r.push(frags[i]);
        if (i < frags.length - 1) assertEqual(res.kind, "partial");
        else if (res.kind === "message") got = res.message;
      }
      assertEqual(got, msg, `round trip ${len}`);
    }
  });

  test("a lost fragment is reported, and the next message still arrives", () => {
    const r = new FragmentReassembler();
    const a = fragmentMessage(new Uint8Array(100).fill(1), 20, 1);
    const b = fragmentMessage(new Uint8Array(50).fill(2), 20, 2);
    r.push(a[0]);
    r.push(a[1]);
    // a[2] lost; the rest of a and then b
    const res = r.push(a[3]);
    assertEqual(res.kind, "partial"); // same message number: length check catches it at the end
    let last = null;
    for (let i = 4; i < a.length; i++) last = r.push(a[i]);
    assertEqual(last !== null && last.kind, "error");
    let out = null;
    for (const f of b) out = r.push(f);
    assertEqual(out !== null && out.kind === "message" ? out.message : null, new Uint8Array(50).fill(2));
  });

  test("a continuation without a start, and a declared length over the limit, are errors", () => {
    const r = new FragmentReassembler();
    const res = r.push(new Uint8Array([0x05, 1, 2]));
    assertEqual(res.kind === "error" ? res.error.code : "", "no-start");
    const big = r.push(new Uint8Array([0xc0, 0xff, 0xff, 1]));
    assertEqual(big.kind === "error" ? big.error.code : "", "too-long");
    assertEqual(r.push(new Uint8Array(0)).kind, "error");
  });
});
