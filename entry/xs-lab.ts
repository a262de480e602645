/**
 * Lab entry inside XS: the host streams a recording's samples to the firmware's estimator, or asks
 * for a scenario run on the virtual board, and reads the compute meter per request.
 *
 * Host -> XS: "I" + JSON {rate, red, accel, dcCoupled?, options?}: a new run (options go to the
 * estimator's constructor); "P" + little-endian Float64 rows [time_ms, ppg, red?, ax?, ay?, az?]
 * (red with `red`, the accelerometer in g with `accel`): feeds them, replies with the number of
 * seconds so far; "R": ends the run and replies with its seconds, beats and gaps as JSON;
 * "S" + JSON {scenario, seconds, seed}: a scenario run, JSON reply.
 * "G" + JSON {seconds, rate, accel}: generates a synthetic wrist signal (a pulse, walking
 * artefacts, the accelerometer) into buffers; "F": feeds it to a new estimator, one estimate per
 * second: the host reads the compute meter of "F" alone, the estimator's own cost.
 */
import type { Scenario } from "../hal/sim/scenarios.js";
import { LabRun, runScenario, type TunableOptions } from "../simulator/lab-estimator.js";
import { HeartRateEstimator } from "../firmware/sensing/heart-rate.js";
import { utf8DecodeOrThrow as utf8Decode, utf8Encode } from "../protocol/bytes.js";

const host = globalThis as unknown as { handleCommand: (request: ArrayBuffer) => ArrayBuffer };
let run: LabRun | null = null;
let withRed = false;
let withAccel = false;

interface Generated {
  rate: number;
  accel: boolean;
  ppg: Float64Array;
  ax: Float32Array;
  ay: Float32Array;
  az: Float32Array;
}
let generated: Generated | null = null;

/** A pulse at 110 bpm with walking artefacts at 1.8 steps/s, and the accelerometer that sees them. */
function generateWrist(seconds: number, rate: number, accel: boolean): Generated {
  const n = Math.round(seconds * rate);
  const g: Generated = { rate, accel, ppg: new Float64Array(n), ax: new Float32Array(n), ay: new Float32Array(n), az: new Float32Array(n) };
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const p = (t * 110) / 60 % 1;
    const pulse = Math.exp(-((p - 0.2) ** 2) / 0.006) + 0.4 * Math.exp(-((p - 0.5) ** 2) / 0.01);
    const swing = Math.sin(Math.PI * 1.8 * t);
    const impact = Math.sin(2 * Math.PI * 1.8 * t);
    g.ppg[i] = 100000 * (1 - 0.01 * pulse + 0.01 * (swing + 0.5 * impact)) + ((i * 7919) % 101) - 50;
    g.ax[i] = 0.6 * swing;
    g.ay[i] = 0.4 * impact;
    g.az[i] = 1;
  }
  return g;
}

function reply(value: unknown): ArrayBuffer {
  return utf8Encode(JSON.stringify(value)).buffer as ArrayBuffer;
}

host.handleCommand = (request: ArrayBuffer): ArrayBuffer => {
  const bytes = new Uint8Array(request);
  const op = String.fromCharCode(bytes[0]);
  const body = bytes.subarray(1);
  if (op === "I") {
    const o = JSON.parse(utf8Decode(body)) as { rate: number; red: boolean; accel?: boolean; dcCoupled?: boolean; options?: TunableOptions };
    run = new LabRun({ rate: o.rate, dcCoupled: o.dcCoupled, options: o.options });
    withRed = o.red;
    withAccel = o.accel === true;
    return reply(0);
  }
  if (op === "S") {
    const o = JSON.parse(utf8Decode(body)) as { scenario: Scenario; seconds: number; seed: number };
    return reply(runScenario(o.scenario, o.seconds, o.seed));
  }
  if (op === "G") {
    const o = JSON.parse(utf8Decode(body)) as { seconds: number; rate: number; accel: boolean };
    generated = generateWrist(o.seconds, o.rate, o.accel);
    return reply(generated.ppg.length);
  }
  if (op === "F") {
    if (!generated) throw new Error("nothing generated: send G first");
    const g = generated;
    const e = new HeartRateEstimator({ sampleRate: g.rate, accelRate: g.rate });
    let estimated = 0;
    for (let i = 0; i < g.ppg.length; i++) {
      e.push(g.ppg[i]);
      if (g.accel) e.pushAccel(g.ax[i], g.ay[i], g.az[i]);
      if ((i + 1) % g.rate === 0 && e.estimate().bpm !== null) estimated++;
    }
    return reply(estimated);
  }
  if (!run) throw new Error("no run: send I first");
  if (op === "P") {
    // A copy starts at offset 0, so the Float64 view is aligned.
    const values = new Float64Array(body.slice().buffer, 0, body.byteLength >> 3);
    const width = 2 + (withRed ? 1 : 0) + (withAccel ? 3 : 0);
    const accelAt = withRed ? 3 : 2;
    for (let i = 0; i + width <= values.length; i += width) {
      run.sample(values[i], values[i + 1], withRed ? values[i + 2] : null, withAccel ? values : null, i + accelAt);
    }
    return reply(run.seconds.length);
  }
  if (op === "R") {
    run.finish();
    return reply({ seconds: run.seconds, beatsMs: run.beatsMs, gaps: run.gaps, missingSamples: run.missingSamples });
  }
  throw new Error(`unknown operation ${op}`);
};
