/// <reference path="../../typings/index.d.ts" />
/**
 * The `Log` contract on the device: one line per message through the native `device-log` module,
 * which writes to xsbug in a debug build and to the console in a release build (the UART at
 * 115200 baud on the ESP32; the SDK's release builds discard `trace()`).
 */
import { writeLine } from "device-log";
import type { Log, LogLevel } from "../contracts/log.js";

export class TraceLog implements Log {
  constructor(private readonly minimum: LogLevel = "info") {}

  log(level: LogLevel, message: string): void {
    if (rank(level) < rank(this.minimum)) return;
    writeLine(`${level}: ${message}`);
  }
}

function rank(level: LogLevel): number {
  return level === "debug" ? 0 : level === "info" ? 1 : level === "warn" ? 2 : 3;
}
