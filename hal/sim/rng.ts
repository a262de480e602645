/**
 * Deterministic randomness for the virtual board. Every random quantity in the simulator comes
 * from a seed, so a run is reproducible bit for bit on Node and on XS.
 */

/** splitmix32 step: turns any 32-bit seed into well-mixed state words. */
function splitmix32(state: number): number {
  let z = (state + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Seeded pseudo-random generator (xoshiro128**), 32-bit state words, no allocation per draw.
 */
export class SimRng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareGaussian = 0;
  private hasSpareGaussian = false;

  constructor(seed: number) {
    let x = seed >>> 0;
    x = splitmix32(x);
    this.s0 = x;
    x = splitmix32(x);
    this.s1 = x;
    x = splitmix32(x);
    this.s2 = x;
    x = splitmix32(x);
    this.s3 = x;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Uniform integer in [0, 2^32). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }

  /** Standard normal deviate (Box-Muller, the second value of each pair is kept for the next call). */
  gaussian(): number {
    if (this.hasSpareGaussian) {
      this.hasSpareGaussian = false;
      return this.spareGaussian;
    }
    let u = this.nextFloat();
    while (u === 0) u = this.nextFloat();
    const v = this.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareGaussian = r * Math.sin(2 * Math.PI * v);
    this.hasSpareGaussian = true;
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fills `bytes` with random bytes. */
  fillBytes(bytes: Uint8Array): void {
    let word = 0;
    for (let i = 0; i < bytes.length; i++) {
      if ((i & 3) === 0) word = this.nextUint32();
      bytes[i] = word & 0xff;
      word >>>= 8;
    }
  }

  /** A new independent generator seeded from this one (one per simulated component). */
  derive(): SimRng {
    return new SimRng(this.nextUint32());
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Stateless hash of (seed, a, b) to a uniform 32-bit integer. Used where a random value must
 * depend only on "which sample" and not on how often or in which order a model was accessed.
 */
export function hashUint32(seed: number, a: number, b: number): number {
  let h = splitmix32((seed ^ 0x5bd1e995) >>> 0);
  h = splitmix32((h ^ (a >>> 0)) >>> 0);
  h = splitmix32((h ^ (b >>> 0)) >>> 0);
  return h;
}

/** Stateless standard normal deviate from (seed, a, b) (Box-Muller over two hashes). */
export function hashGaussian(seed: number, a: number, b: number): number {
  const h1 = hashUint32(seed, a, b);
  const h2 = splitmix32(h1 ^ 0x68e31da4);
  const u = (h1 + 1) / 4294967297;
  const v = h2 / 4294967296;
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
