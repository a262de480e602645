/** An I2C opener for the pipeline specs that records what the sensing pipeline opens. */
import type { SMBusOpener } from "../../hal/contracts/i2c.js";
import type { VirtualBoard } from "../../hal/sim/board.js";
import { describeError } from "./harness.js";

/** The board's I2C opener, recording every address opened and every open the bus refused (rethrown). */
export function recordingOpener(board: VirtualBoard): { open: SMBusOpener; opened: number[]; refused: string[] } {
  const opened: number[] = [];
  const refused: string[] = [];
  const open: SMBusOpener = (options) => {
    try {
      const handle = board.bus.open(options);
      opened.push(options.address);
      return handle;
    } catch (e) {
      refused.push(describeError(e));
      throw e;
    }
  };
  return { open, opened, refused };
}
