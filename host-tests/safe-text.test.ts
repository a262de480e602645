import { strict as assert } from "node:assert";
import fc from "fast-check";
import { SAFE_TEXT_MAX, safeBytesText, safeText } from "../host/cli/safe-text.js";

/** Anything a terminal would act on or not show: controls, format characters, surrogates, private use, unassigned, line separators. */
const NON_PRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const codePoints = (s: string) => [...s].length;
/** Any string: code points of every plane, and raw UTF-16 units (lone surrogates included). */
const anyText = (maxLength: number) =>
  fc.oneof(
    fc.string({ unit: "binary", maxLength }),
    fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength }).map((units) => String.fromCharCode(...units)),
    fc.array(fc.constantFrom("\x1b", "[2J", "\n", "\r", "\\", "\u202e", "\u2028", "\ud800", "\u0085", "a", "é"), { maxLength }).map((p) => p.join("")),
  );

describe("safeText: device-supplied text made safe to print", () => {
  it("escapes the attack that got through: a clear-screen escape and a forged line", () => {
    const forged = "online\x1b[2J\ngateway: device 0011223344556677 offline";
    const out = safeText(forged);
    assert.equal(out, "online\\x1b[2J\\x0agateway: device 0011223344556677 offline");
    assert.ok(!CONTROL.test(out));
    assert.ok(!out.includes("\n"));
  });

  it("escapes backslashes, C1 controls, bidirectional overrides, line separators and lone surrogates", () => {
    assert.equal(safeText("a\\x1b"), "a\\\\x1b");
    assert.equal(safeText("\u0085\u009b"), "\\x85\\x9b");
    assert.equal(safeText("abc\u202Edef"), "abc\\u202edef");
    assert.equal(safeText("\u2028\u2029"), "\\u2028\\u2029");
    assert.equal(safeText("x\ud800y"), "x\\ud800y");
    assert.equal(safeText("tag\u{E0041}"), "tag\\u{e0041}");
    // Printable non-ASCII stays as it is.
    assert.equal(safeText("37,2 °C — ok ✓ 😀"), "37,2 °C — ok ✓ 😀");
  });

  it("caps the length with an ellipsis, never cutting an escape in half", () => {
    assert.equal(safeText("x".repeat(SAFE_TEXT_MAX)), "x".repeat(SAFE_TEXT_MAX));
    assert.equal(safeText("x".repeat(SAFE_TEXT_MAX + 1)), "x".repeat(SAFE_TEXT_MAX - 1) + "…");
    assert.equal(safeText("abcdef", 4), "abc…");
    assert.equal(safeText("ab\ncd", 5), "ab…");
    assert.equal(safeText("\n", 4), "\\x0a");
  });

  it("decodes bytes as UTF-8 first (invalid sequences become U+FFFD)", () => {
    assert.equal(safeBytesText(new Uint8Array([0x6f, 0x6b, 0xff, 0x1b, 0x0d])), "ok\ufffd\\x1b\\x0d");
  });

  it("property: the output never holds a control or non-printable character and is bounded", () => {
    fc.assert(
      fc.property(anyText(600), fc.integer({ min: 1, max: 300 }), (s, max) => {
        const out = safeText(s, max);
        assert.ok(!NON_PRINTABLE.test(out), JSON.stringify(out));
        assert.ok(codePoints(out) <= max, `${codePoints(out)} > ${max}`);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => {
        const out = safeBytesText(b);
        assert.ok(!NON_PRINTABLE.test(out));
        assert.ok(codePoints(out) <= SAFE_TEXT_MAX);
      }),
    );
  });

  it("property: printable ASCII without backslashes is kept as it is, up to the cap", () => {
    const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).filter((c) => c !== 0x5c).map((c) => String.fromCharCode(c)), maxLength: 400 });
    fc.assert(
      fc.property(printable, (s) => {
        const out = safeText(s);
        if (s.length <= SAFE_TEXT_MAX) assert.equal(out, s);
        else assert.equal(out, s.slice(0, SAFE_TEXT_MAX - 1) + "…");
      }),
    );
  });

  it("property: different short texts stay different (escaping loses nothing below the cap)", () => {
    fc.assert(
      fc.property(anyText(20), anyText(20), (a, b) => {
        if (a !== b) assert.notEqual(safeText(a, 1000), safeText(b, 1000));
      }),
      { numRuns: 2000 },
    );
  });
});
