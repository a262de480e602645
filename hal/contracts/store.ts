/**
 * Settings and keys at rest, shaped after the Moddable SDK's `preference` module (NVS on the
 * ESP32): a domain and a key of at most 15 characters each, values of at most 4000 bytes;
 * integers, strings, booleans or ArrayBuffers (no floats).
 */
export type PreferenceValue = number | string | boolean | ArrayBuffer;

export const PREFERENCE_NAME_MAX = 15;
export const PREFERENCE_VALUE_MAX = 4000;

export interface PreferenceStore {
  get(domain: string, key: string): PreferenceValue | undefined;
  set(domain: string, key: string, value: PreferenceValue): void;
  delete(domain: string, key: string): void;
  keys(domain: string): string[];
}
