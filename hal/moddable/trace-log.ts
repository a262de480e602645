/// <reference path="../../typings/index.d.ts" />
/** The `Log` contract over XS `trace` (xsbug's console; the serial port on a release build). */
import type { Log, LogLevel } from "../contracts/log.js";

export class TraceLog implements Log {
  constructor(private readonly minimum: LogLevel = "info") {}

  log(level: LogLevel, message: string): void {
    if (rank(level) < rank(this.minimum)) return;
    trace(`${level}: ${message}\n`);
  }
}

function rank(level: LogLevel): number {
  return level === "debug" ? 0 : level === "info" ? 1 : level === "warn" ? 2 : 3;
}
