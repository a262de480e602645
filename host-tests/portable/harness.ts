/**
 * A tiny test harness for portable suites: the same spec files run under mocha on Node and,
 * compiled, inside the XS engine (xsnap-worker). Standard ECMAScript only.
 *
 * Tests are synchronous: the firmware is event-driven on virtual time, so a test advances the
 * virtual clock instead of awaiting.
 */
export type TestBody = () => void;

export interface TestCase {
  suite: string;
  name: string;
  body: TestBody;
}

export interface TestResult {
  suite: string;
  name: string;
  ok: boolean;
  error?: string;
}

const cases: TestCase[] = [];
let currentSuite = "";

export function suite(name: string, body: () => void): void {
  const previous = currentSuite;
  currentSuite = previous ? `${previous} > ${name}` : name;
  try {
    body();
  } finally {
    currentSuite = previous;
  }
}

export function test(name: string, body: TestBody): void {
  cases.push({ suite: currentSuite, name, body });
}

export function registeredCases(): readonly TestCase[] {
  return cases;
}

export function runAll(): TestResult[] {
  const results: TestResult[] = [];
  for (let i = 0; i < cases.length; i++) results.push(runCase(i));
  return results;
}

/** Runs the case registered at `index` (a host may run the cases one at a time). */
export function runCase(index: number): TestResult {
  const c = cases[index];
  if (!c) throw new RangeError(`no portable case at index ${index} (${cases.length} registered)`);
  try {
    c.body();
    return { suite: c.suite, name: c.name, ok: true };
  } catch (e) {
    return { suite: c.suite, name: c.name, ok: false, error: describeError(e) };
  }
}

export function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function show(v: unknown): string {
  if (v instanceof Uint8Array) {
    let s = "";
    for (let i = 0; i < v.length && i < 64; i++) s += (v[i] < 16 ? "0" : "") + v[i].toString(16);
    return `Uint8Array(${v.length})[${s}${v.length > 64 ? "..." : ""}]`;
  }
  if (typeof v === "bigint") return `${v}n`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * Structural equality: same prototype, then Dates by time, typed arrays by bytes, Maps by keys
 * (SameValueZero) and values, Sets by members (primitives by identity, objects matched deeply,
 * each member once), everything else by own enumerable keys.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime());
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !deepEqual(v, b.get(k))) return false;
    return true;
  }
  if (a instanceof Set && b instanceof Set) return setsEqual(a, b);
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

function setsEqual(a: Set<unknown>, b: Set<unknown>): boolean {
  if (a.size !== b.size) return false;
  const unmatched: unknown[] = [];
  for (const m of b) if (!a.has(m)) unmatched.push(m);
  for (const m of a) {
    if (b.has(m)) continue;
    if (typeof m !== "object" || m === null) return false;
    const i = unmatched.findIndex((n) => deepEqual(m, n));
    if (i < 0) return false;
    unmatched.splice(i, 1);
  }
  return unmatched.length === 0;
}

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function assertEqual<T>(actual: T, expected: T, message?: string): void {
  if (!deepEqual(actual, expected)) {
    throw new AssertionError(`${message ? message + ": " : ""}expected ${show(expected)}, got ${show(actual)}`);
  }
}

export function assertClose(actual: number, expected: number, tolerance: number, message?: string): void {
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new AssertionError(`${message ? message + ": " : ""}expected ${expected} +- ${tolerance}, got ${actual}`);
  }
}

export function assertThrows(fn: () => unknown, pattern?: RegExp, message?: string): void {
  let threw = false;
  try {
    fn();
  } catch (e) {
    threw = true;
    if (pattern && !pattern.test(describeError(e))) {
      throw new AssertionError(`${message ? message + ": " : ""}error ${describeError(e)} does not match ${pattern}`);
    }
  }
  if (!threw) throw new AssertionError(`${message ? message + ": " : ""}expected an exception`);
}

/** Deterministic PRNG for property-style loops that also run on XS (mulberry32). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
