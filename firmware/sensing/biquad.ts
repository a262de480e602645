/**
 * Second-order IIR section (transposed direct form II) with Butterworth low-pass and high-pass
 * designs after the RBJ audio-EQ cookbook. Five multiplies per sample, no allocation.
 */
export class Biquad {
  private b0 = 1;
  private b1 = 0;
  private b2 = 0;
  private a1 = 0;
  private a2 = 0;
  private z1 = 0;
  private z2 = 0;

  static lowPass(cutoffHz: number, sampleRate: number, q = Math.SQRT1_2): Biquad {
    return new Biquad().design(cutoffHz, sampleRate, q, false);
  }

  static highPass(cutoffHz: number, sampleRate: number, q = Math.SQRT1_2): Biquad {
    return new Biquad().design(cutoffHz, sampleRate, q, true);
  }

  private design(cutoffHz: number, sampleRate: number, q: number, highPass: boolean): Biquad {
    if (!(cutoffHz > 0 && cutoffHz < sampleRate / 2)) throw new RangeError(`cutoff ${cutoffHz} Hz must lie below half the sample rate ${sampleRate}`);
    const w0 = (2 * Math.PI * cutoffHz) / sampleRate;
    const cos = Math.cos(w0);
    const alpha = Math.sin(w0) / (2 * q);
    const a0 = 1 + alpha;
    if (highPass) {
      this.b0 = (1 + cos) / 2 / a0;
      this.b1 = -(1 + cos) / a0;
    } else {
      this.b0 = (1 - cos) / 2 / a0;
      this.b1 = (1 - cos) / a0;
    }
    this.b2 = this.b0;
    this.a1 = (-2 * cos) / a0;
    this.a2 = (1 - alpha) / a0;
    return this;
  }

  step(x: number): number {
    const y = this.b0 * x + this.z1;
    this.z1 = this.b1 * x - this.a1 * y + this.z2;
    this.z2 = this.b2 * x - this.a2 * y;
    return y;
  }

  reset(): void {
    this.z1 = 0;
    this.z2 = 0;
  }
}
