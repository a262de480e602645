/**
 * The simulated device's random source (its "hardware RNG"): what its crypto draws for ephemeral
 * ECDH keys and any other key it generates.
 *
 * The board's seeded generator alone would give every run with the same seed the same ephemeral
 * keys, hence the same epoch keys, whatever the run then encrypts: two runs with one seed and
 * different data (another scenario, commands, controls used live, a longer run) would seal
 * different plaintexts under the same (key, nonce) pairs. So each byte the device draws is the
 * board generator's byte XOR a keystream bound to the run:
 *
 *   K        = SHA-256("wearable sim entropy v1" || 0x00 || UTF-8 of the session configuration as JSON)
 *   block i  = HMAC-SHA256(K, BE32(i)),  i = 0, 1, ...  (the keystream is their concatenation)
 *
 * The configuration carries `runNonce`: 16 bytes of the host's real randomness that `wearable sim`
 * draws for every run (or takes from `--run-nonce` to repeat one) and records with the run.
 * Without a run nonce (tests and benches that build sessions themselves) K still depends on
 * everything the configuration says (scenario, traces, faults, start time, commands, ...), so
 * sessions that differ in configuration get different keys, and the same configuration
 * reproduces the same run. The board generator is drawn exactly as before (the same number of
 * bytes at the same moments), so sensor data and everything else that depends on it is unchanged:
 * it depends on the seed alone.
 */
import type { SimRng } from "../hal/sim/rng.js";
import { utf8Encode } from "../protocol/bytes.js";

export const SIM_ENTROPY_LABEL = "wearable sim entropy v1";

export interface SimEntropyHash {
  sha256(data: Uint8Array): Uint8Array;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
}

/**
 * A random source for the device's crypto: `rng`'s bytes XOR the run's keystream. `hash` is
 * called only when bytes are drawn (the crypto that uses this source may provide it).
 */
export function simEntropySource(rng: SimRng, configJson: string, hash: () => SimEntropyHash): (n: number) => Uint8Array {
  let key: Uint8Array | null = null;
  let block: Uint8Array = new Uint8Array(0);
  let used = 0;
  let counter = 0;
  return (n: number) => {
    const out = new Uint8Array(n);
    rng.fillBytes(out);
    const h = hash();
    if (key === null) {
      const label = utf8Encode(SIM_ENTROPY_LABEL);
      const config = utf8Encode(configJson);
      const input = new Uint8Array(label.length + 1 + config.length);
      input.set(label, 0);
      input.set(config, label.length + 1);
      key = h.sha256(input);
    }
    for (let i = 0; i < n; i++) {
      if (used === block.length) {
        const c = counter++;
        block = h.hmacSha256(key, new Uint8Array([(c >>> 24) & 0xff, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff]));
        used = 0;
      }
      out[i] ^= block[used++];
    }
    return out;
  };
}
