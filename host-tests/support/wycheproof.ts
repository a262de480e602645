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

/**
 * Our one deviation from Wycheproof's expectations, for ES256 (ecdsa_secp256r1_sha256_p1363):
 * we accept only low-S signatures (s <= n/2), like Bitcoin's BIP-62 / libsecp256k1, so that a
 * signed message has one encoding (docs/protocol.md section 1). A case Wycheproof calls valid
 * whose s is above n/2 is therefore expected to be rejected: this returns it as an "invalid" case
 * (comment marked), and every other case unchanged.
 */
export function withLowSRule(t: WycheproofTest): WycheproofTest {
  const sig = typeof t.sig === "string" ? t.sig : "";
  const high = sig.length === 128 && BigInt("0x" + sig.slice(64)) > P256_HALF_N;
  if (t.result !== "valid" || !high) return t;
  return { ...t, result: "invalid", comment: `${t.comment}; high-S, refused by the low-S rule` };
}

/** Valid Wycheproof cases of the vendored ecdsa_secp256r1_sha256_p1363 file with s > n/2. */
export const WYCHEPROOF_ES256_VALID_HIGH_S = 70;

const P256_HALF_N = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551") >> BigInt(1);

/** Prints the tally and asserts that nothing failed and something ran. */
export function reportTally(name: string, t: Tally): void {
  const extra = t.skipped > 0 ? ` (${[...t.skipReasons].map(([why, n]) => `${n} ${why}`).join("; ")})` : "";
  console.log(`      ${name}: ${t.passedValid} valid and ${t.passedInvalid} invalid passed, ${t.acceptable} acceptable, ${t.skipped} outside the algorithm's parameters${extra}`);
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
