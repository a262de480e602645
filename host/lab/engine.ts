/**
 * Runs the firmware's heart-rate estimator (simulator/lab-estimator.ts, LabRun) over a recording, on
 * the XS engine (xsnap-worker, through entry/xs-lab.ts) or on Node. An XS engine can be reused for
 * many runs (`lab benchmark` keeps one per parallel worker).
 */
import { join } from "node:path";
import { LabRun, type LabSecond, type TunableOptions } from "../../simulator/lab-estimator.js";
import { buildForXs } from "../xs/build.js";
import { XsWorker } from "../xs/driver.js";
import type { PpgRecording } from "./csv.js";

export type EngineName = "xs" | "node";

export interface RunConfig {
  rate: number;
  /** False for the dataset format (the PPG is not raw absolute counts). Default: by the recording's format. */
  dcCoupled?: boolean;
  options?: TunableOptions;
}

export interface RunResult {
  seconds: LabSecond[];
  /** Detected beats, ms since the first sample. */
  beatsMs: number[];
  gaps: number;
  missingSamples: number;
  /** XS computrons spent feeding the samples (null on Node). */
  computrons: number | null;
}

export interface LabEngine {
  readonly name: EngineName;
  run(rec: PpgRecording, config: RunConfig): Promise<RunResult>;
  close(): Promise<void>;
}

function dcCoupledOf(rec: PpgRecording, config: RunConfig): boolean {
  return config.dcCoupled ?? rec.format === "lab";
}

export class NodeLabEngine implements LabEngine {
  readonly name = "node" as const;

  async run(rec: PpgRecording, config: RunConfig): Promise<RunResult> {
    const run = new LabRun({ rate: config.rate, dcCoupled: dcCoupledOf(rec, config), options: config.options });
    const accel = rec.accel ? new Float64Array(3) : null;
    for (let i = 0; i < rec.timeMs.length; i++) {
      if (accel && rec.accel) {
        accel[0] = rec.accel.x[i];
        accel[1] = rec.accel.y[i];
        accel[2] = rec.accel.z[i];
      }
      run.sample(rec.timeMs[i], rec.ir[i], rec.red ? rec.red[i] : null, accel, 0);
    }
    run.finish();
    return { seconds: run.seconds, beatsMs: run.beatsMs, gaps: run.gaps, missingSamples: run.missingSamples, computrons: null };
  }

  async close(): Promise<void> {}
}

/** Seconds of samples per request to XS. */
const CHUNK_S = 30;

export class XsLabEngine implements LabEngine {
  readonly name = "xs" as const;
  private constructor(private readonly worker: XsWorker) {}

  static async start(): Promise<XsLabEngine> {
    const dir = await buildForXs();
    const worker = await XsWorker.start();
    try {
      await worker.loadModule(join(dir, "entry/xs-lab.js"));
    } catch (e) {
      await worker.close();
      throw e;
    }
    return new XsLabEngine(worker);
  }

  private async send(op: string, body: Uint8Array) {
    const msg = new Uint8Array(body.length + 1);
    msg[0] = op.charCodeAt(0);
    msg.set(body, 1);
    return this.worker.command(msg);
  }

  async run(rec: PpgRecording, config: RunConfig): Promise<RunResult> {
    const enc = new TextEncoder();
    const hasRed = rec.red !== null;
    const hasAccel = rec.accel !== null;
    await this.send("I", enc.encode(JSON.stringify({ rate: config.rate, red: hasRed, accel: hasAccel, dcCoupled: dcCoupledOf(rec, config), options: config.options ?? {} })));
    const width = 2 + (hasRed ? 1 : 0) + (hasAccel ? 3 : 0);
    const chunk = Math.max(1, Math.ceil(config.rate * CHUNK_S));
    const n = rec.timeMs.length;
    let computrons = 0;
    for (let i = 0; i < n; i += chunk) {
      const m = Math.min(chunk, n - i);
      const buf = new Float64Array(m * width);
      for (let k = 0; k < m; k++) {
        const o = k * width;
        buf[o] = rec.timeMs[i + k];
        buf[o + 1] = rec.ir[i + k];
        let a = o + 2;
        if (rec.red) buf[a++] = rec.red[i + k];
        if (rec.accel) {
          buf[a] = rec.accel.x[i + k];
          buf[a + 1] = rec.accel.y[i + k];
          buf[a + 2] = rec.accel.z[i + k];
        }
      }
      const r = await this.send("P", new Uint8Array(buf.buffer));
      computrons += r.meter.compute;
    }
    const r = await this.send("R", new Uint8Array(0));
    const out = JSON.parse(new TextDecoder().decode(r.result)) as Omit<RunResult, "computrons">;
    return { ...out, computrons };
  }

  async close(): Promise<void> {
    await this.worker.close();
  }
}

export async function startEngine(name: EngineName): Promise<LabEngine> {
  return name === "xs" ? XsLabEngine.start() : new NodeLabEngine();
}

/** Runs the firmware's estimator over one recording on a fresh engine. */
export async function runEstimator(rec: PpgRecording, rate: number, engine: EngineName, config: Omit<RunConfig, "rate"> = {}): Promise<RunResult> {
  const e = await startEngine(engine);
  try {
    return await e.run(rec, { ...config, rate });
  } finally {
    await e.close();
  }
}
