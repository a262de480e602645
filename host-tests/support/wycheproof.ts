/**
 * The vendored C2SP Wycheproof vectors (host-tests/vectors/wycheproof) and the rule by which a
 * file is passed: every `valid` case accepted with the exact output, every `invalid` case
 * rejected, `acceptable` cases counted either way, cases outside the Crypto interface skipped
 * with a reason. Shared by wycheproof.test.ts (Node implementations) and device-crypto.test.ts
 * (the device implementation in the SDK simulator).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const wycheproofDir = join(resolve(dirname(fileURLToPath(import.meta.url)), ".."), "vectors", "wycheproof");

export interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  result: "valid" | "invalid" | "acceptable";
  [field: string]: unknown;
}

export interface WycheproofGroup {
  tests: WycheproofTest[];
  [field: string]: unknown;
}

export interface WycheproofFile {
  algorithm: string;
  testGroups: WycheproofGroup[];
}

export function loadWycheproof(name: string): WycheproofFile {
  return JSON.parse(readFileSync(join(wycheproofDir, name), "utf8")) as WycheproofFile;
}

/** What an implementation did with one case. */
export interface CaseOutcome {
  outcome: "accepted" | "rejected" | "skip";
  /** For computations: whether the output was the expected one. */
  matches?: boolean;
  note?: string;
}

export interface Tally {
  passedValid: number;
  passedInvalid: number;
  acceptable: number;
  skipped: number;
  skipReasons: Map<string, number>;
  failures: string[];
}

export function newTally(): Tally {
  return { passedValid: 0, passedInvalid: 0, acceptable: 0, skipped: 0, skipReasons: new Map(), failures: [] };
}

export function countCase(tally: Tally, t: WycheproofTest, r: CaseOutcome): void {
  if (r.outcome === "skip") {
    tally.skipped++;
    const why = r.note ?? "outside the interface";
    tally.skipReasons.set(why, (tally.skipReasons.get(why) ?? 0) + 1);
  } else if (t.result === "acceptable") {
    tally.acceptable++;
  } else if (t.result === "valid") {
    if (r.outcome === "accepted" && r.matches !== false) tally.passedValid++;
    else tally.failures.push(`tcId ${t.tcId} (valid, ${t.comment}): ${r.outcome}${r.matches === false ? " with a different output" : ""} ${r.note ?? ""}`);
  } else {
    if (r.outcome === "rejected" || r.matches === false) tally.passedInvalid++;
    else tally.failures.push(`tcId ${t.tcId} (invalid, ${t.comment} [${t.flags.join(",")}]): accepted`);
  }
}

/** Prints the tally and asserts that nothing failed and something ran. */
export function reportTally(name: string, t: Tally): void {
  const extra = t.skipped > 0 ? ` (${[...t.skipReasons].map(([why, n]) => `${n} ${why}`).join("; ")})` : "";
  console.log(`      ${name}: ${t.passedValid} valid and ${t.passedInvalid} invalid passed, ${t.acceptable} acceptable, ${t.skipped} skipped${extra}`);
  assert.deepEqual(t.failures, [], `${name}: ${t.failures.length} failures`);
  assert.ok(t.passedValid + t.passedInvalid > 0, `${name}: no case ran`);
}

export function hexBytes(s: unknown): Uint8Array {
  assert.equal(typeof s, "string");
  return new Uint8Array(Buffer.from(s as string, "hex"));
}

export function bytesHex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}
