/**
 * `embedded:storage/flash` for the desktop simulator: the SDK's FlashStorage API over the
 * partition files of flash-files.ts.
 */
import { Flash } from "./flash-files.js";

const FlashStorage = {
  open(options: { path: string; mode?: "r" | "r+" }): Flash {
    if (!options || typeof options.path !== "string") throw new Error("no path");
    const mode = options.mode ?? "r";
    if (mode !== "r" && mode !== "r+") throw new Error("invalid mode");
    return new Flash(options.path, mode === "r+");
  },
};

export default FlashStorage;
