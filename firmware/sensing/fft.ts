/**
 * In-place radix-2 complex FFT of a fixed size, with its twiddle factors and bit-reversal table
 * computed once at construction (fixed memory, no allocation per transform).
 */
export class Fft {
  readonly size: number;
  private readonly cos: Float32Array;
  private readonly sin: Float32Array;
  private readonly reversed: Uint16Array;

  constructor(size: number) {
    if (!(size >= 4 && size <= 4096 && (size & (size - 1)) === 0)) throw new RangeError(`FFT size ${size} must be a power of two in 4..4096`);
    this.size = size;
    this.cos = new Float32Array(size >> 1);
    this.sin = new Float32Array(size >> 1);
    for (let i = 0; i < size >> 1; i++) {
      this.cos[i] = Math.cos((2 * Math.PI * i) / size);
      this.sin[i] = -Math.sin((2 * Math.PI * i) / size);
    }
    this.reversed = new Uint16Array(size);
    let bits = 0;
    while (1 << bits < size) bits++;
    for (let i = 0; i < size; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) if (i & (1 << b)) r |= 1 << (bits - 1 - b);
      this.reversed[i] = r;
    }
  }

  /** Forward transform of (re, im), each `size` long, in place. */
  transform(re: Float32Array | Float64Array, im: Float32Array | Float64Array): void {
    const n = this.size;
    const rev = this.reversed;
    for (let i = 0; i < n; i++) {
      const j = rev[i];
      if (j > i) {
        let t = re[i];
        re[i] = re[j];
        re[j] = t;
        t = im[i];
        im[i] = im[j];
        im[j] = t;
      }
    }
    // Stage 1 (pairs, twiddle 1) and stage 2 (quads, twiddles 1 and -i) without multiplies.
    for (let a = 0; a < n; a += 2) {
      const b = a + 1;
      const br = re[b];
      const bi = im[b];
      re[b] = re[a] - br;
      im[b] = im[a] - bi;
      re[a] += br;
      im[a] += bi;
    }
    for (let a = 0; a < n; a += 4) {
      let b = a + 2;
      let br = re[b];
      let bi = im[b];
      re[b] = re[a] - br;
      im[b] = im[a] - bi;
      re[a] += br;
      im[a] += bi;
      // Twiddle -i: (br, bi) * -i = (bi, -br).
      const c = a + 1;
      b = a + 3;
      br = im[b];
      bi = -re[b];
      re[b] = re[c] - br;
      im[b] = im[c] - bi;
      re[c] += br;
      im[c] += bi;
    }
    const cos = this.cos;
    const sin = this.sin;
    // Remaining stages: the twiddle outside the inner loop, read once per group of butterflies.
    for (let half = 4; half < n; half <<= 1) {
      const span = half << 1;
      const step = n / span;
      for (let k = 0, t = 0; k < half; k++, t += step) {
        const wr = cos[t];
        const wi = sin[t];
        for (let a = k; a < n; a += span) {
          const b = a + half;
          const xr = re[b];
          const xi = im[b];
          const br = xr * wr - xi * wi;
          const bi = xr * wi + xi * wr;
          re[b] = re[a] - br;
          im[b] = im[a] - bi;
          re[a] += br;
          im[a] += bi;
        }
      }
    }
  }
}
