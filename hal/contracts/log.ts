/** Log output; on the device it goes to xsbug/serial, in the simulator to the host. */
export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Log {
  log(level: LogLevel, message: string): void;
}
