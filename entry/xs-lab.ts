/**
 * Lab entry inside XS: the host streams a recording's samples to the firmware's estimator, or asks
 * for a scenario run on the virtual board, and reads the compute meter per request.
 *
 * Host -> XS: "I" + JSON {rate, red}: a new run; "P" + little-endian Int32 samples (IR, or IR/red
 * pairs): feeds them, replies with the number of seconds so far; "R": replies with the run's
 * seconds and beats as JSON; "S" + JSON {scenario, seconds, seed}: a scenario run, JSON reply.
 */
import type { Scenario } from "../hal/sim/scenarios.js";
import { LabRun, runScenario } from "./lab-estimator.js";
import { utf8Decode, utf8Encode } from "./utf8.js";

const host = globalThis as unknown as { handleCommand: (request: ArrayBuffer) => ArrayBuffer };
let run: LabRun | null = null;
let withRed = false;
let ir = new Int32Array(0);
let red = new Int32Array(0);

function reply(value: unknown): ArrayBuffer {
  return utf8Encode(JSON.stringify(value)).buffer as ArrayBuffer;
}

host.handleCommand = (request: ArrayBuffer): ArrayBuffer => {
  const bytes = new Uint8Array(request);
  const op = String.fromCharCode(bytes[0]);
  const body = bytes.subarray(1);
  if (op === "I") {
    const o = JSON.parse(utf8Decode(body)) as { rate: number; red: boolean };
    run = new LabRun(o.rate);
    withRed = o.red;
    return reply(0);
  }
  if (op === "S") {
    const o = JSON.parse(utf8Decode(body)) as { scenario: Scenario; seconds: number; seed: number };
    return reply(runScenario(o.scenario, o.seconds, o.seed));
  }
  if (!run) throw new Error("no run: send I first");
  if (op === "P") {
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const values = body.byteLength >> 2;
    const count = withRed ? values >> 1 : values;
    if (ir.length < count) {
      ir = new Int32Array(count);
      red = new Int32Array(count);
    }
    for (let i = 0; i < count; i++) {
      if (withRed) {
        ir[i] = view.getInt32(8 * i, true);
        red[i] = view.getInt32(8 * i + 4, true);
      } else ir[i] = view.getInt32(4 * i, true);
    }
    run.push(ir, withRed ? red : null, count);
    return reply(run.seconds.length);
  }
  if (op === "R") return reply({ seconds: run.seconds, beatsMs: run.beatsMs });
  throw new Error(`unknown operation ${op}`);
};
