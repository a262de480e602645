/**
 * A sensor's interrupt line: a digital input (ECMA-419 `embedded:io/digital`, pull-up, falling
 * edge for the MAX30102's open-drain, active-low INT; the LIS2DH12's INT1 is push-pull, active
 * high by default). `onInterrupt` runs on the event loop when the line becomes asserted.
 */
export interface InterruptLine {
  /** True while the line is asserted. */
  readonly asserted: boolean;
  close(): void;
}

/**
 * Opens the interrupt line of a named sensor ("ppg": the MAX30102's INT; "accelerometer": the
 * LIS2DH12's INT1); null when the board does not wire it.
 */
export type InterruptOpener = (sensor: "ppg" | "accelerometer", onInterrupt: () => void) => InterruptLine | null;
