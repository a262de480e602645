import { PREFERENCE_NAME_MAX, PREFERENCE_VALUE_MAX } from "../contracts/store.js";
import type { PreferenceStore, PreferenceValue } from "../contracts/store.js";
import { utf8Length } from "../contracts/bytes.js";

/** Contents of a store at one moment, for carrying settings across a simulated reboot. */
export interface PreferenceSnapshot {
  readonly domains: ReadonlyMap<string, ReadonlyMap<string, PreferenceValue>>;
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/**
 * Settings store of the virtual board with the limits of the SDK's `preference` module on the
 * ESP32 (NVS): domain and key of 1..15 characters, integers (32-bit), strings, booleans or
 * ArrayBuffers, values of at most 4000 bytes. Anything else throws, as the device would.
 * ArrayBuffers are copied in and out; `keys()` lists names in sorted order.
 */
export class SimPreferenceStore implements PreferenceStore {
  private domains = new Map<string, Map<string, PreferenceValue>>();
  /** Number of `set` and `delete` calls (NVS writes, for wear figures). */
  writes = 0;

  get(domain: string, key: string): PreferenceValue | undefined {
    checkName("domain", domain);
    checkName("key", key);
    const value = this.domains.get(domain)?.get(key);
    return value instanceof ArrayBuffer ? value.slice(0) : value;
  }

  set(domain: string, key: string, value: PreferenceValue): void {
    checkName("domain", domain);
    checkName("key", key);
    const stored = checkValue(domain, key, value);
    let entries = this.domains.get(domain);
    if (!entries) {
      entries = new Map();
      this.domains.set(domain, entries);
    }
    entries.set(key, stored);
    this.writes++;
  }

  delete(domain: string, key: string): void {
    checkName("domain", domain);
    checkName("key", key);
    const entries = this.domains.get(domain);
    if (!entries) return;
    entries.delete(key);
    if (entries.size === 0) this.domains.delete(domain);
    this.writes++;
  }

  keys(domain: string): string[] {
    checkName("domain", domain);
    const entries = this.domains.get(domain);
    if (!entries) return [];
    const names: string[] = [];
    for (const k of entries.keys()) names.push(k);
    return names.sort();
  }

  /** Deep copy of the contents (the flash survives a reboot; RAM does not). */
  snapshot(): PreferenceSnapshot {
    return { domains: copyDomains(this.domains) };
  }

  /** Replaces the contents with a snapshot's. */
  restore(snapshot: PreferenceSnapshot): void {
    this.domains = copyDomains(snapshot.domains);
  }

  /** Erases everything (a factory reset). */
  clear(): void {
    this.domains = new Map();
  }
}

function copyDomains(source: ReadonlyMap<string, ReadonlyMap<string, PreferenceValue>>): Map<string, Map<string, PreferenceValue>> {
  const copy = new Map<string, Map<string, PreferenceValue>>();
  for (const [domain, entries] of source) {
    const inner = new Map<string, PreferenceValue>();
    for (const [k, v] of entries) inner.set(k, v instanceof ArrayBuffer ? v.slice(0) : v);
    copy.set(domain, inner);
  }
  return copy;
}

function checkName(kind: string, name: string): void {
  if (typeof name !== "string" || name.length === 0 || name.length > PREFERENCE_NAME_MAX) {
    throw new RangeError(`preference ${kind} must be 1..${PREFERENCE_NAME_MAX} characters: ${JSON.stringify(name)}`);
  }
}

function checkValue(domain: string, key: string, value: PreferenceValue): PreferenceValue {
  const where = `${domain}.${key}`;
  switch (typeof value) {
    case "boolean":
      return value;
    case "number":
      if (!Number.isInteger(value)) throw new TypeError(`preference ${where}: only integers can be stored, not ${value}`);
      if (value < INT32_MIN || value > INT32_MAX) throw new RangeError(`preference ${where}: integer ${value} is outside 32 bits`);
      return value;
    case "string": {
      const bytes = utf8Length(value);
      if (bytes > PREFERENCE_VALUE_MAX) throw new RangeError(`preference ${where}: string of ${bytes} bytes exceeds ${PREFERENCE_VALUE_MAX}`);
      return value;
    }
    default:
      if (value instanceof ArrayBuffer) {
        if (value.byteLength > PREFERENCE_VALUE_MAX) {
          throw new RangeError(`preference ${where}: buffer of ${value.byteLength} bytes exceeds ${PREFERENCE_VALUE_MAX}`);
        }
        return value.slice(0);
      }
      throw new TypeError(`preference ${where}: unsupported value type ${describeType(value)}`);
  }
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (ArrayBuffer.isView(value)) return `${(value as object).constructor.name} (store its ArrayBuffer)`;
  return typeof value;
}
