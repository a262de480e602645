/// <reference path="../../typings/index.d.ts" />
/**
 * The `PreferenceStore` contract over the SDK's `preference` module (NVS on the ESP32, a JSON
 * file in the desktop simulator). NVS limits are checked here so that the simulator rejects
 * what the device would reject.
 */
import Preference from "preference";
import { PREFERENCE_NAME_MAX, PREFERENCE_VALUE_MAX } from "../contracts/store.js";
import type { PreferenceStore, PreferenceValue } from "../contracts/store.js";

function checkName(what: string, name: string): void {
  if (name.length === 0 || name.length > PREFERENCE_NAME_MAX) throw new RangeError(`preference ${what} "${name}" must be 1..${PREFERENCE_NAME_MAX} characters`);
}

export class ModdablePreferenceStore implements PreferenceStore {
  get(domain: string, key: string): PreferenceValue | undefined {
    return Preference.get(domain, key);
  }

  set(domain: string, key: string, value: PreferenceValue): void {
    checkName("domain", domain);
    checkName("key", key);
    if (typeof value === "number" && !Number.isInteger(value)) throw new RangeError(`preference ${domain}/${key}: NVS stores no floats`);
    const size = value instanceof ArrayBuffer ? value.byteLength : typeof value === "string" ? value.length : 0;
    if (size > PREFERENCE_VALUE_MAX) throw new RangeError(`preference ${domain}/${key}: ${size} bytes exceed ${PREFERENCE_VALUE_MAX}`);
    Preference.set(domain, key, value);
  }

  delete(domain: string, key: string): void {
    Preference.delete(domain, key);
  }

  keys(domain: string): string[] {
    return Preference.keys(domain);
  }
}
