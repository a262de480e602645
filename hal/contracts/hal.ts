import type { Crypto } from "./crypto.js";
import type { FlashPartition } from "./flash.js";
import type { FrameLink } from "./link.js";
import type { Log } from "./log.js";
import type { SMBusOpener } from "./i2c.js";
import type { InterruptOpener } from "./interrupt.js";
import type { PreferenceStore } from "./store.js";
import type { Clock, Timers } from "./timer.js";

/** Everything the firmware touches, chosen by a composition root (device or simulator). */
export interface Hal {
  i2c: SMBusOpener;
  timers: Timers;
  clock: Clock;
  store: PreferenceStore;
  log: Log;
  link: FrameLink;
  crypto: Crypto;
  /** Firmware identity that the build stamps in (version string, e.g. "1.0.0"). */
  firmwareVersion: string;
  /** Opens a sensor's interrupt line; absent or null when the board does not wire it (drain by timer). */
  interrupt?: InterruptOpener;
  /** Opens a flash data partition by name (e.g. "framequeue"); null when the board has none. */
  partition?(name: string): FlashPartition | null;
}
