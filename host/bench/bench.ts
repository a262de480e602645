/**
 * `npm run bench [-- --json]`: cost figures measured on the XS engine's compute meter and heap
 * (deterministic), bytes on the wire, and simulator throughput.
 */
import { join } from "node:path";
import { measureFrameQueue } from "../soak/bench-queue.js";
import type { AeadAlgorithm, KeyAgreementAlgorithm, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { fragmentCount } from "../../protocol/link-framing.js";
import type { BenchSetup } from "../../entry/xs-bench.js";
import { formatHelp, parseFlags, UsageError } from "../cli/args.js";
import { buildForXs } from "../xs/build.js";
import { XsWorker } from "../xs/driver.js";
import { simKeys } from "../sim/sim-keys.js";
import { startEngine, type EngineName } from "../sim/engines.js";
import { DEFAULT_HR_TRACE } from "../sim/run-sim.js";
import { benchHeartRate } from "../lab/bench-hr.js";
import { createInProcessTransport, runFleet } from "../fleet/fleet.js";
import { measureCommands } from "../command/command-bench.js";
import { measureUpdate } from "../ota/bench-update.js";
import { cryptoAppPrerequisites } from "../device/crypto-apps.js";
import { describeDeviceCryptoBench, runDeviceCryptoBench } from "../device/crypto-bench.js";
import { describeEsp32Image, measureEsp32Image } from "../device/esp32-size.js";
import { findSdk } from "../device/moddable-build.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface SealCost {
  signatureAlg: SignatureAlgorithm;
  agreementAlg: KeyAgreementAlgorithm;
  aeadAlg: AeadAlgorithm;
  /** Computrons to seal one frame in steady state (mean of 10). */
  computronsPerFrame: number;
  /** Computrons of the very first seal after start-up (tables built on first use). */
  firstFrameComputrons: number;
  /** Computrons to open an epoch (ephemeral key, ECDH, HKDF, signed announcement). */
  epochOpenComputrons: number;
  /** Live slots after GC once the sealer exists and has sealed frames. */
  liveSlotsAfterGc: number;
  /** Growth of live slots after GC per sealed frame (0 = nothing retained). */
  retainedSlotsPerFrame: number;
  /** Slots allocated and left for the collector by one seal. */
  transientSlotsPerFrame: number;
  frameBytes: number;
  payloadBytes: number;
  overheadBytes: number;
  announcementBytes: number;
}

async function measureSeal(signatureAlg: SignatureAlgorithm, agreementAlg: KeyAgreementAlgorithm, aeadAlg: AeadAlgorithm, readingsPerFrame: number): Promise<SealCost> {
  const dir = await buildForXs();
  const worker = await XsWorker.start();
  try {
    await worker.loadModule(join(dir, "entry/xs-bench.js"));
    const keys = simKeys(1, 0, signatureAlg, agreementAlg);
    const setup: BenchSetup = { seed: 1, ...keys.provisioning, aeadAlg, readingsPerFrame };
    const call = async (op: string, body: string) => {
      const r = await worker.command(enc.encode(op + body));
      return { value: JSON.parse(dec.decode(r.result)) as { bytes: number }, meter: r.meter };
    };
    await call("K", JSON.stringify(setup));
    const epoch = await call("E", "1");
    const first = await call("X", "1");
    await call("X", "1");
    const base = await worker.liveSlotsAfterGc();
    const one = await call("X", "1");
    const transient = one.meter.currentHeapCount - base;
    const ten = await call("X", "10");
    const after = await worker.liveSlotsAfterGc();
    // Payload: the record alone, measured on Node with the same encoder.
    const { encodeRecord } = await import("../../protocol/record.js");
    const readings = Array.from({ length: readingsPerFrame }, (_, i) => ({ seq: 1000 + i, timeMs: 1767254400000 + i * 1000, hrBpm: 72.4, hrQuality: 97, tempC: 33.52, flags: 0 }));
    const payloadBytes = encodeRecord({ schema: 1, frameSeq: 12, firmwareVersion: "1.0.0", readings }).length;
    return {
      signatureAlg,
      agreementAlg,
      aeadAlg,
      computronsPerFrame: Math.round(ten.meter.compute / 10),
      firstFrameComputrons: first.meter.compute,
      epochOpenComputrons: epoch.meter.compute,
      liveSlotsAfterGc: after,
      retainedSlotsPerFrame: Math.max(0, Math.round((after - base) / 10)),
      transientSlotsPerFrame: transient,
      frameBytes: ten.value.bytes,
      payloadBytes,
      overheadBytes: ten.value.bytes - payloadBytes,
      announcementBytes: epoch.value.bytes,
    };
  } finally {
    await worker.close();
  }
}

interface SimThroughput {
  engine: EngineName;
  simulatedSeconds: number;
  wallSeconds: number;
  simulatedSecondsPerWallSecond: number;
  computronsPerSimulatedSecond: number | null;
  liveSlotsAfterGc: number | null;
}

async function measureSim(engine: EngineName, seconds: number): Promise<SimThroughput> {
  const keys = simKeys(1);
  const sim = await startEngine(engine, { notify: () => {}, log: () => {} });
  try {
    await sim.boot({ seed: 1, startWallTimeMs: Date.parse("2026-01-01T08:00:00Z"), heartRate: DEFAULT_HR_TRACE, skinTempC: [{ atS: 0, celsius: 33.5 }], framePeriodS: 5, firmwareVersion: "1.0.0", mtu: 247, provisioning: keys.provisioning });
    await sim.advance(10_000); // past start-up and first-use costs
    let compute = 0;
    const start = performance.now();
    for (let t = 0; t < seconds; t++) {
      await sim.advance(1000);
      compute += sim.lastMeter()?.compute ?? 0;
    }
    const wall = (performance.now() - start) / 1000;
    return {
      engine,
      simulatedSeconds: seconds,
      wallSeconds: Number(wall.toFixed(3)),
      simulatedSecondsPerWallSecond: Math.round(seconds / wall),
      computronsPerSimulatedSecond: engine === "xs" ? Math.round(compute / seconds) : null,
      liveSlotsAfterGc: await sim.liveSlots(),
    };
  } finally {
    await sim.close();
  }
}

const flagSpecs = {
  json: { type: "boolean", help: "one JSON object on stdout" },
  quick: { type: "boolean", help: "only the default algorithm choice (faster)" },
} as const;

async function main(argv: string[]): Promise<void> {
  const { flags, positional, help } = parseFlags("bench", flagSpecs, argv);
  if (help) {
    console.log(formatHelp("npm run bench -- [--json] [--quick]", "Measures per-frame cost on XS (compute meter, live slots), bytes on the wire and simulator speed.", flagSpecs));
    return;
  }
  if (positional.length) throw new UsageError(`bench: unexpected argument "${positional[0]}" (see --help)`);
  const readingsPerFrame = 5;
  const combos: [SignatureAlgorithm, KeyAgreementAlgorithm, AeadAlgorithm][] = flags.quick
    ? [["ES256", "P-256", "A128GCM"]]
    : [
        ["ES256", "P-256", "A128GCM"],
        ["ES256", "P-256", "ChaCha20/Poly1305"],
        ["EdDSA", "X25519", "A128GCM"],
        ["EdDSA", "X25519", "ChaCha20/Poly1305"],
      ];
  const seal: SealCost[] = [];
  for (const [s, a, e] of combos) seal.push(await measureSeal(s, a, e, readingsPerFrame));
  const chosen = seal[0];
  const sim = [await measureSim("xs", 60), await measureSim("node", 60)];
  const hr = await benchHeartRate();
  const commands = await measureCommands();
  const update = await measureUpdate();
  // Fleet throughput: 500 generator devices, one simulated minute as fast as the gateway takes it.
  const fleetRun = await runFleet({ devices: 500, minutes: 1, engine: "generator", speed: "max", framePeriodS: 5, seed: 1, transport: createInProcessTransport(), progress: null });
  const fleet = { devices: fleetRun.devices, verifiedFrames: fleetRun.verified, lost: fleetRun.lost, verifiedFramesPerWallSecond: fleetRun.framesPerSecond, p50LatencyMs: fleetRun.p50LatencyMs, p99LatencyMs: fleetRun.p99LatencyMs, cpuPercent: fleetRun.cpuPercent };
  const frameQueue = measureFrameQueue(chosen.frameBytes);
  // The device's native crypto against @noble in the Moddable SDK's simulator (needs the SDK).
  const sdk = cryptoAppPrerequisites();
  const deviceCrypto = typeof sdk === "string" ? { skipped: sdk } : await runDeviceCryptoBench((line) => process.stderr.write(`${line}\n`));
  // The ESP32 build's XS archive (bytecode and preloaded heap in flash), made with the SDK's host
  // tools: xsc and xsl, no ESP-IDF (host/device/esp32-size.ts).
  const moddable = findSdk();
  const esp32Image = typeof moddable === "string" ? { skipped: moddable } : await measureEsp32Image(moddable, { progress: (line) => process.stderr.write(`${line}\n`) });
  const result = {
    esp32Image,
    deviceCrypto,
    frameQueue,
    fleet,
    update,
    commands,
    hr,
    xs: {
      engine: "xsnap-worker (Moddable XS)",
      readingsPerFrame,
      computronsPerFrame: chosen.computronsPerFrame,
      liveSlotsAfterGc: chosen.liveSlotsAfterGc,
      retainedSlotsPerFrame: chosen.retainedSlotsPerFrame,
      transientSlotsPerFrame: chosen.transientSlotsPerFrame,
      computronsPerSimulatedSecond: sim[0].computronsPerSimulatedSecond,
    },
    wire: {
      frameBytes: chosen.frameBytes,
      payloadBytes: chosen.payloadBytes,
      overheadBytes: chosen.overheadBytes,
      announcementBytes: chosen.announcementBytes,
      notificationsPerFrameAtMtu247: fragmentCount(chosen.frameBytes, 244),
      notificationsPerFrameAtMtu23: fragmentCount(chosen.frameBytes, 20),
    },
    simulatedSecondsPerWallSecond: { xs: sim[0].simulatedSecondsPerWallSecond, node: sim[1].simulatedSecondsPerWallSecond },
    algorithms: seal,
    simulator: sim,
  };
  if (flags.json) {
    process.stdout.write(JSON.stringify(result) + "\n");
    return;
  }
  console.log(`XS engine, ${readingsPerFrame} readings per frame (ES256 + P-256 ECDH + A128GCM):`);
  console.log(`  seal one frame        ${chosen.computronsPerFrame.toLocaleString("en")} computrons (first frame ${chosen.firstFrameComputrons.toLocaleString("en")})`);
  console.log(`  open an epoch         ${chosen.epochOpenComputrons.toLocaleString("en")} computrons`);
  console.log(`  live slots after GC   ${chosen.liveSlotsAfterGc} (retained per frame ${chosen.retainedSlotsPerFrame}, transient per frame ${chosen.transientSlotsPerFrame})`);
  console.log(`  whole device, per simulated second: ${sim[0].computronsPerSimulatedSecond?.toLocaleString("en")} computrons (board models included)`);
  console.log(`  command (ES256): accept ${commands.acceptComputrons.toLocaleString("en")}, reject forged ${commands.rejectForgedComputrons.toLocaleString("en")}, answer garbage ${commands.rejectMalformedComputrons.toLocaleString("en")}; rate-limited: drop garbage ${commands.dropMalformedComputrons.toLocaleString("en")}, drop a forgery ${commands.dropForgedComputrons.toLocaleString("en")}; log entry ${commands.securityLogAppendComputrons.toLocaleString("en")} (a repeat within its window ${commands.securityLogRepeatComputrons.toLocaleString("en")}) computrons; command ${commands.commandBytes} B, result ${commands.resultBytes} B`);
  const hrLine = Object.entries(hr.scenarios).map(([name, f]) => `${name} ${f.maeBpm ?? "n/a"} bpm at ${f.coveragePct} %`).join(", ");
  console.log(`heart rate: estimator ${hr.xsComputronsPerSecond.toLocaleString("en")} computrons per second of signal at 50 sps (${hr.xsComputronsPerSecondWithAccel.toLocaleString("en")} with the accelerometer); scenarios (MAE at coverage): ${hrLine}`);
  console.log(`wire: frame ${chosen.frameBytes} B = record ${chosen.payloadBytes} B + ${chosen.overheadBytes} B of COSE; announcement ${chosen.announcementBytes} B`);
  console.log(`simulator: ${sim[0].simulatedSecondsPerWallSecond} simulated s per wall s on XS, ${sim[1].simulatedSecondsPerWallSecond} on Node`);
  console.log(`fleet (${fleet.devices} devices, compressed time, in-process): ${fleet.verifiedFramesPerWallSecond} frames verified per wall s, lost ${fleet.lost}, latency p50 ${fleet.p50LatencyMs} ms p99 ${fleet.p99LatencyMs} ms, CPU ${fleet.cpuPercent}%`);
  console.log(`update: manifest ${update.manifestBytes} B, simulator image ${update.simImageBytes} B (${update.bleWritesPerSimImage} BLE writes); on XS: check a manifest ${update.verifyManifestComputrons.toLocaleString("en")} computrons, SHA-256 ${update.sha256ComputronsPer4KB.toLocaleString("en")} per 4 KB; sweep: ${update.sweep.cutPoints} cut points, ${update.sweep.bootedValid} booted valid, ${update.sweep.sequenceDecreased} sequence decreased (revert: ${update.sweep.revertCutPoints}/${update.sweep.revertBootedValid})`);
  console.log(`frame queue: ${frameQueue.capacityFrames} frames (${frameQueue.offlineHoursAt5sFrames} h offline at one frame per 5 s) in ${frameQueue.partitionBytes} B; ${frameQueue.flashWritesPerFrame} flash writes and ${frameQueue.blockErasesPer1000Frames} block erases per 1000 frames stored and acknowledged; soak ${frameQueue.soak.simulatedSecondsPerWallSecond} simulated s per wall s`);
  console.log("skipped" in esp32Image ? `size:esp32: skipped: ${esp32Image.skipped}` : describeEsp32Image(esp32Image));
  if ("skipped" in deviceCrypto) console.log(`device crypto: skipped: ${deviceCrypto.skipped}`);
  else for (const line of describeDeviceCryptoBench(deviceCrypto)) console.log(line);
  console.log("algorithm choices (per frame on XS):");
  for (const c of seal) {
    console.log(
      `  ${`${c.signatureAlg} + ${c.agreementAlg} + ${c.aeadAlg}`.padEnd(38)} seal ${c.computronsPerFrame.toLocaleString("en").padStart(11)}  first ${c.firstFrameComputrons.toLocaleString("en").padStart(11)}  epoch ${c.epochOpenComputrons.toLocaleString("en").padStart(11)}  slots ${String(c.liveSlotsAfterGc).padStart(6)}  frame ${c.frameBytes} B (+${c.overheadBytes})  announce ${c.announcementBytes} B`,
    );
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof UsageError) {
    process.stderr.write(`wearable ${e.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
});
