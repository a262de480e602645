/**
 * `embedded:io/digital` for the desktop simulator, which has no GPIO: opening a pin throws, as
 * the SDK does for a pin that does not exist. The simulator's board does not wire the PPG's
 * interrupt line (no `ppgInterruptPin` in its config), so the firmware drains the FIFO on a timer.
 */
export default class Digital {
  static readonly Input = 0;
  static readonly InputPullUp = 1;
  static readonly InputPullDown = 2;
  static readonly InputPullUpDown = 3;
  static readonly Output = 8;
  static readonly OutputOpenDrain = 9;
  static readonly Rising = 1;
  static readonly Falling = 2;

  constructor(options: { pin: number }) {
    throw new RangeError(`invalid pin ${options.pin}: the desktop simulator has no GPIO`);
  }

  read(): number {
    return 0;
  }

  write(_value: number): void {}

  close(): void {}

  get format(): "number" {
    return "number";
  }
}
