/// <reference path="../../typings/index.d.ts" />
/**
 * A sensor's interrupt line over ECMA-419 `embedded:io/digital`: the MAX30102's INT output is
 * open drain and active low, so the pin is an input with pull-up and fires on the falling edge.
 * The callback runs on the event loop (the SDK defers it from the GPIO interrupt).
 */
import Digital from "embedded:io/digital";

export class InterruptPin {
  private io: Digital | null;

  constructor(pin: number, onInterrupt: () => void) {
    this.io = new Digital({
      pin,
      mode: Digital.InputPullUp,
      edge: Digital.Falling,
      onReadable() {
        onInterrupt();
      },
    });
  }

  /** True while the line is asserted (low). */
  get asserted(): boolean {
    return this.io !== null && this.io.read() === 0;
  }

  close(): void {
    this.io?.close();
    this.io = null;
  }
}
