/**
 * The sizes docs/protocol.md states (sections 3, 6 and 6.1), read from the document itself, so
 * that the tests measuring the wire check the document's own numbers.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface DocSizes {
  /** Section 3: the records of 5 readings of the default run, smallest and largest. */
  record5Min: number;
  record5Max: number;
  /** Section 3: the record of 5 readings under the stated conditions, and with a frame number below 24. */
  record5Typical: number;
  record5TypicalEarly: number;
  /** Section 6: a default frame (at most 5 readings), by Partial IV length 1 and 2. */
  frame5: [number, number];
  /** Section 6.1: plaintext size classes and frame sizes (A128GCM, PIV 1 and 2 bytes), by row. */
  classes: { name: string; plaintext: number | null; frame: [number, number] }[];
}

export function protocolDocSizes(): DocSizes {
  const doc = readFileSync(resolve(repoRoot, "docs/protocol.md"), "utf8").replace(/\s+/g, " ");
  const one = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(doc);
    assert.ok(m, `docs/protocol.md states ${what} (${re.source})`);
    return m;
  };
  const range = one(/the records of 5 readings are (\d+) to (\d+) bytes/, "the range of 5-reading records");
  const typical = one(/a record of 5 readings with a heart rate, a temperature, a quality of 24 or more, no flag or alert, reading counters 24 to 255 and a frame number 24 to 255 \(as there, from its second minute\) is (\d+) bytes \((\d+) with a frame number below 24\)/, "the typical 5-reading record");
  const frame = one(/a frame of a record of at most 5 readings, the default, is \*\*(\d+) bytes\*\* with A128GCM while the frame number is below 256, (\d+) up to 65535/, "the default frame size");
  const table = one(/\| frame carries \| plaintext `P` \| ciphertext \| data frame, A128GCM \|(.*?)\(`len\(PIV\)`/, "the size-class table");
  const classes: DocSizes["classes"] = [];
  for (const row of table[1].split(/\|\s*\|/)) {
    const cells = row.split("|").map((c) => c.trim()).filter((c) => c !== "" && !/^-+$/.test(c));
    if (cells.length < 4) continue;
    const sizes = cells[3].match(/\b\d{3,}\b/g);
    if (!sizes || sizes.length !== 2) continue;
    const p = /^(\d+)\b/.exec(cells[1]);
    classes.push({ name: cells[0], plaintext: p ? Number(p[1]) : null, frame: [Number(sizes[0]), Number(sizes[1])] });
  }
  assert.ok(classes.length >= 4, `the size-class table has its rows (${JSON.stringify(classes)})`);
  return {
    record5Min: Number(range[1]),
    record5Max: Number(range[2]),
    record5Typical: Number(typical[1]),
    record5TypicalEarly: Number(typical[2]),
    frame5: [Number(frame[1]), Number(frame[2])],
    classes,
  };
}

/** Every data-frame size the table documents for A128GCM, with a Partial IV of 1 or 2 bytes. */
export function documentedFrameSizes(d: DocSizes = protocolDocSizes()): Set<number> {
  const out = new Set<number>();
  for (const c of d.classes) for (const n of c.frame) out.add(n);
  return out;
}
