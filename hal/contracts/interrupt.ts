/**
 * A sensor's interrupt line: a digital input (ECMA-419 `embedded:io/digital`, pull-up, falling
 * edge for the MAX30102's open-drain, active-low INT). `onInterrupt` runs on the event loop when
 * the line becomes asserted.
 */
export interface InterruptLine {
  /** True while the line is asserted. */
  readonly asserted: boolean;
  close(): void;
}

/** Opens the interrupt line of a named sensor ("ppg"); null when the board does not wire it. */
export type InterruptOpener = (sensor: "ppg", onInterrupt: () => void) => InterruptLine | null;
