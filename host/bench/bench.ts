/**
 * `npm run bench [-- --json] [--quick] [--only SECTIONS]`: cost figures measured on the XS engine's
 * compute meter and heap (deterministic), bytes on the wire, and simulator throughput. Progress
 * goes to stderr, one line per section with a running count; stdout holds the figures (with
 * --json, one JSON document). Figures computed from others rather than measured are listed, with
 * their formula, under a `derived` key beside them.
 *
 * `gateway` (host/bench/gateway-throughput.ts, where its method is defined): the gateway's frames
 * per second of CPU time through its whole receiving path and a batched SQLite store
 * (`framesPerSecondPerCore`), beside the minimum crypto of the same frames with Node's crypto on
 * one thread, one ES256 verification and one A128GCM decryption each
 * (`rawVerifyPerSecondPerCore`), and their ratio, in a process with the gateway worker's Node
 * options; `--gateway-frames` sets how many frames.
 */
import { join } from "node:path";
import { measureFrameQueue } from "../soak/bench-queue.js";
import type { AeadAlgorithm, KeyAgreementAlgorithm, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { fragmentMessage } from "../../protocol/link-framing.js";
import { sealEnvelope } from "../../protocol/link-messages.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import type { BenchSetup } from "../../entry/xs-bench.js";
import { formatHelp, parseFlags, UsageError } from "../cli/args.js";
import { buildForXs } from "../xs/build.js";
import { XsWorker } from "../xs/driver.js";
import { simKeys } from "../sim/sim-keys.js";
import { startEngine, type EngineName } from "../sim/engines.js";
import { DEFAULT_HR_TRACE } from "../sim/run-sim.js";
import { benchHeartRate } from "../lab/bench-hr.js";
import { createInProcessTransport, runFleet } from "../fleet/fleet.js";
import { measureGatewayThroughputInWorkerProcess, type GatewayThroughput } from "./gateway-throughput.js";
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

/** Notifications one sealed frame takes on BLE at this ATT MTU: its link envelope split by the link framing, as the uplink does. */
function notificationsPerFrame(frameBytes: number, mtu: number): number {
  const crypto = new NobleCrypto((n) => new Uint8Array(n).fill(7));
  const envelope = sealEnvelope(crypto, new Uint8Array(32).fill(1), new Uint8Array(8).fill(2), 1, 2, 1, new Uint8Array(frameBytes).fill(0x5a));
  return fragmentMessage(envelope, mtu - ATT_HEADER_BYTES, 0).length;
}

/** ATT notification header: an MTU of 247 leaves 244 bytes of payload. */
const ATT_HEADER_BYTES = 3;

/** What `--only` can select, in the order they run; the JSON keys each fills. */
export const BENCH_SECTIONS = ["algorithms", "simulator", "hr", "commands", "update", "fleet", "gateway", "frameQueue", "deviceCrypto", "esp32Image"] as const;
type Section = (typeof BENCH_SECTIONS)[number];

const flagSpecs = {
  json: { type: "boolean", help: "one JSON object on stdout (progress on stderr)" },
  quick: { type: "boolean", help: "only the default algorithm choice (faster)" },
  only: { type: "string", help: `measure only these sections, comma-separated (${BENCH_SECTIONS.join(", ")})`, valueName: "LIST" },
  "gateway-frames": { type: "number", help: "data frames the gateway section measures", default: 20000, min: 10, integer: true, valueName: "N" },
} as const;

async function main(argv: string[]): Promise<void> {
  const { flags, positional, help } = parseFlags("bench", flagSpecs, argv);
  if (help) {
    console.log(formatHelp("npm run bench -- [--json] [--quick] [--only LIST]", "Measures per-frame cost on XS (compute meter, live slots), bytes on the wire and simulator speed.", flagSpecs));
    return;
  }
  if (positional.length) throw new UsageError(`bench: unexpected argument "${positional[0]}" (see --help)`);
  let sections: Section[] = [...BENCH_SECTIONS];
  if (flags.only !== undefined) {
    const asked = flags.only.split(",").map((x) => x.trim());
    const unknown = asked.find((x) => !(BENCH_SECTIONS as readonly string[]).includes(x));
    if (unknown !== undefined || asked.length === 0) throw new UsageError(`bench: --only: unknown section "${unknown ?? ""}"; sections: ${BENCH_SECTIONS.join(", ")}`);
    sections = BENCH_SECTIONS.filter((x) => asked.includes(x));
  }
  const progress = (line: string) => process.stderr.write(line + "\n");
  const wallStart = performance.now();
  const readingsPerFrame = 5;
  const combos: [SignatureAlgorithm, KeyAgreementAlgorithm, AeadAlgorithm][] = flags.quick
    ? [["ES256", "P-256", "A128GCM"]]
    : [
        ["ES256", "P-256", "A128GCM"],
        ["ES256", "P-256", "ChaCha20/Poly1305"],
        ["EdDSA", "X25519", "A128GCM"],
        ["EdDSA", "X25519", "ChaCha20/Poly1305"],
      ];
  // The seal of the default choice: its frame size sizes the queue, so "frameQueue" needs it too.
  const needSeal = sections.includes("algorithms") || sections.includes("frameQueue");
  const steps = (needSeal && !sections.includes("algorithms") ? 1 : 0) + sections.length;
  let stepNo = 0;
  const begin = (what: string) => progress(`bench: [${++stepNo}/${steps}] ${what} (${((performance.now() - wallStart) / 1000).toFixed(0)} s so far)`);

  const seal: SealCost[] = [];
  if (needSeal) {
    const list = sections.includes("algorithms") ? combos : combos.slice(0, 1);
    begin(`seal cost on XS: ${list.length} algorithm choice${list.length > 1 ? "s" : ""}`);
    for (const [s, a, e] of list) seal.push(await measureSeal(s, a, e, readingsPerFrame));
  }
  const chosen = seal[0] as SealCost | undefined;
  let sim: SimThroughput[] | undefined;
  if (sections.includes("simulator")) {
    begin("simulator: 60 simulated s on XS and on Node");
    sim = [await measureSim("xs", 60), await measureSim("node", 60)];
  }
  let hr: Awaited<ReturnType<typeof benchHeartRate>> | undefined;
  if (sections.includes("hr")) {
    begin("heart rate: estimator cost on XS and the scenarios");
    hr = await benchHeartRate();
  }
  let commands: Awaited<ReturnType<typeof measureCommands>> | undefined;
  if (sections.includes("commands")) {
    begin("commands on XS");
    commands = await measureCommands();
  }
  let update: Awaited<ReturnType<typeof measureUpdate>> | undefined;
  if (sections.includes("update")) {
    begin("update: manifest and hash on XS, BLE delivery, power-cut sweep");
    update = await measureUpdate(progress);
  }
  let fleet: Record<string, number | null> | undefined;
  if (sections.includes("fleet")) {
    // Fleet throughput: 500 generator devices, one simulated minute as fast as the gateway takes it.
    begin("fleet: 500 devices, one simulated minute");
    const fleetRun = await runFleet({ devices: 500, minutes: 1, engine: "generator", speed: "max", framePeriodS: 5, seed: 1, transport: createInProcessTransport(), progress: null });
    fleet = { devices: fleetRun.devices, verifiedFrames: fleetRun.verified, lost: fleetRun.lost, verifiedFramesPerWallSecond: fleetRun.framesPerSecond, p50LatencyMs: fleetRun.p50LatencyMs, p99LatencyMs: fleetRun.p99LatencyMs, cpuPercent: fleetRun.cpuPercent };
  }
  let gateway: GatewayThroughput | undefined;
  if (sections.includes("gateway")) {
    const frames = flags["gateway-frames"]!;
    begin(`gateway: ${frames} frames of 200 devices, raw crypto and the receiving path with SQLite, per CPU second`);
    gateway = measureGatewayThroughputInWorkerProcess({ frames, devices: Math.min(200, frames) });
  }
  let frameQueue: ReturnType<typeof measureFrameQueue> | undefined;
  if (sections.includes("frameQueue")) {
    begin(`frame queue: capacity, wear and a soak, with ${chosen!.frameBytes}-byte frames`);
    frameQueue = measureFrameQueue(chosen!.frameBytes, progress);
  }
  let deviceCrypto: { skipped: string } | Awaited<ReturnType<typeof runDeviceCryptoBench>> | undefined;
  if (sections.includes("deviceCrypto")) {
    // The device's native crypto against @noble in the Moddable SDK's simulator (needs the SDK).
    begin("device crypto in the Moddable SDK's simulator");
    const sdk = cryptoAppPrerequisites();
    deviceCrypto = typeof sdk === "string" ? { skipped: sdk } : await runDeviceCryptoBench(progress);
  }
  let esp32Image: { skipped: string } | Awaited<ReturnType<typeof measureEsp32Image>> | undefined;
  if (sections.includes("esp32Image")) {
    // The ESP32 build's XS archive (bytecode and preloaded heap in flash), made with the SDK's host
    // tools: xsc and xsl, no ESP-IDF (host/device/esp32-size.ts).
    begin("ESP32 image size with the SDK's host tools");
    const moddable = findSdk();
    esp32Image = typeof moddable === "string" ? { skipped: moddable } : await measureEsp32Image(moddable, { progress });
  }
  const showSeal = sections.includes("algorithms") && chosen !== undefined;
  const result = {
    esp32Image,
    deviceCrypto,
    frameQueue,
    fleet,
    gateway,
    update,
    commands,
    hr,
    xs:
      showSeal || sim
        ? {
            engine: "xsnap-worker (Moddable XS)",
            ...(showSeal
              ? {
                  readingsPerFrame,
                  computronsPerFrame: chosen.computronsPerFrame,
                  liveSlotsAfterGc: chosen.liveSlotsAfterGc,
                  retainedSlotsPerFrame: chosen.retainedSlotsPerFrame,
                  transientSlotsPerFrame: chosen.transientSlotsPerFrame,
                }
              : {}),
            ...(sim ? { computronsPerSimulatedSecond: sim[0].computronsPerSimulatedSecond } : {}),
          }
        : undefined,
    wire: showSeal
      ? {
          frameBytes: chosen.frameBytes,
          payloadBytes: chosen.payloadBytes,
          overheadBytes: chosen.overheadBytes,
          announcementBytes: chosen.announcementBytes,
          notificationsPerFrameAtMtu247: notificationsPerFrame(chosen.frameBytes, 247),
          notificationsPerFrameAtMtu23: notificationsPerFrame(chosen.frameBytes, 23),
          derived: {
            overheadBytes: "frameBytes - payloadBytes",
            notificationsPerFrameAtMtu247: "a frame of frameBytes in its link envelope, split by the link framing at 244-byte payloads (not counted on a link)",
            notificationsPerFrameAtMtu23: "the same at 20-byte payloads",
          },
        }
      : undefined,
    simulatedSecondsPerWallSecond: sim ? { xs: sim[0].simulatedSecondsPerWallSecond, node: sim[1].simulatedSecondsPerWallSecond } : undefined,
    algorithms: showSeal ? seal : undefined,
    simulator: sim,
  };
  progress(`bench: done in ${((performance.now() - wallStart) / 1000).toFixed(0)} s`);
  if (flags.json) {
    process.stdout.write(JSON.stringify(result) + "\n");
    return;
  }
  if (showSeal) {
    console.log(`XS engine, ${readingsPerFrame} readings per frame (ES256 + P-256 ECDH + A128GCM):`);
    console.log(`  seal one frame        ${chosen.computronsPerFrame.toLocaleString("en")} computrons (first frame ${chosen.firstFrameComputrons.toLocaleString("en")})`);
    console.log(`  open an epoch         ${chosen.epochOpenComputrons.toLocaleString("en")} computrons`);
    console.log(`  live slots after GC   ${chosen.liveSlotsAfterGc} (retained per frame ${chosen.retainedSlotsPerFrame}, transient per frame ${chosen.transientSlotsPerFrame})`);
  }
  if (sim) console.log(`  whole device, per simulated second: ${sim[0].computronsPerSimulatedSecond?.toLocaleString("en")} computrons (board models included)`);
  if (commands) console.log(`  command (ES256): accept ${commands.acceptComputrons.toLocaleString("en")}, reject forged ${commands.rejectForgedComputrons.toLocaleString("en")}, answer garbage ${commands.rejectMalformedComputrons.toLocaleString("en")}; rate-limited: drop garbage ${commands.dropMalformedComputrons.toLocaleString("en")}, drop a forgery ${commands.dropForgedComputrons.toLocaleString("en")}; log entry ${commands.securityLogAppendComputrons.toLocaleString("en")} (a repeat within its window ${commands.securityLogRepeatComputrons.toLocaleString("en")}) computrons; command ${commands.commandBytes} B, result ${commands.resultBytes} B`);
  if (hr) {
    const hrLine = Object.entries(hr.scenarios).map(([name, f]) => `${name} ${f.maeBpm ?? "n/a"} bpm at ${f.coveragePct} %`).join(", ");
    console.log(`heart rate: estimator ${hr.xsComputronsPerSecond.toLocaleString("en")} computrons per second of signal at 50 sps (${hr.xsComputronsPerSecondWithAccel.toLocaleString("en")} with the accelerometer); scenarios (MAE at coverage): ${hrLine}`);
  }
  if (result.wire) console.log(`wire: frame ${result.wire.frameBytes} B = record ${result.wire.payloadBytes} B + ${result.wire.overheadBytes} B of COSE; announcement ${result.wire.announcementBytes} B; ${result.wire.notificationsPerFrameAtMtu247} notifications per frame at MTU 247, ${result.wire.notificationsPerFrameAtMtu23} at MTU 23 (derived: envelope split by the link framing)`);
  if (sim) console.log(`simulator: ${sim[0].simulatedSecondsPerWallSecond} simulated s per wall s on XS, ${sim[1].simulatedSecondsPerWallSecond} on Node`);
  if (fleet) console.log(`fleet (${fleet.devices} devices, compressed time, in-process): ${fleet.verifiedFramesPerWallSecond} frames verified per wall s, lost ${fleet.lost}, latency p50 ${fleet.p50LatencyMs} ms p99 ${fleet.p99LatencyMs} ms, CPU ${fleet.cpuPercent}%`);
  if (gateway) {
    console.log(
      `gateway (${gateway.devices} devices, ${gateway.frames} frames, SQLite batches of ${gateway.batchFrames}): ${gateway.framesPerSecondPerCore} frames per CPU s through the receiving path and the store, ` +
        `raw verify + decrypt ${gateway.rawVerifyPerSecondPerCore} per CPU s, ratio ${gateway.ratio} (derived); ${gateway.framesPerWallSecond} frames per wall s; ` +
        `CPU per frame ${gateway.cpuMicrosecondsPerFrame.receive} us receiving, ${gateway.cpuMicrosecondsPerFrame.store} us storing`,
    );
  }
  if (update) console.log(`update: manifest ${update.manifestBytes} B, simulator image ${update.simImageBytes} B (${update.bleWritesPerSimImage} BLE writes, counted at the link); on XS: check a manifest ${update.verifyManifestComputrons.toLocaleString("en")} computrons, SHA-256 ${update.sha256ComputronsPer4KB.toLocaleString("en")} per 4 KB; sweep: ${update.sweep.cutPoints} cut points, ${update.sweep.bootedValid} booted valid, ${update.sweep.sequenceDecreased} sequence decreased (revert: ${update.sweep.revertCutPoints}/${update.sweep.revertBootedValid})`);
  if (frameQueue) {
    console.log(
      `frame queue: ${frameQueue.capacityFrames} frames of ${chosen!.frameBytes} B (filled until it drops one) in ${frameQueue.partitionBytes} B, ${frameQueue.offlineHoursAt5sFrames} h offline at one frame per 5 s (derived); ` +
        `${frameQueue.flashWritesPerFrame} flash writes per frame and ${frameQueue.blockErasesPer1000Frames} block erases per 1000 frames stored and acknowledged; envelope ${frameQueue.envelopeBytes} B, acknowledgement ${frameQueue.ackBytes} B; ` +
        `soak ${frameQueue.soak.simulatedHours} simulated h at ${frameQueue.soak.simulatedSecondsPerWallSecond} simulated s per wall s`,
    );
  }
  if (esp32Image) console.log("skipped" in esp32Image ? `size:esp32: skipped: ${esp32Image.skipped}` : describeEsp32Image(esp32Image));
  if (deviceCrypto) {
    if ("skipped" in deviceCrypto) console.log(`device crypto: skipped: ${deviceCrypto.skipped}`);
    else for (const line of describeDeviceCryptoBench(deviceCrypto)) console.log(line);
  }
  if (showSeal) {
    console.log("algorithm choices (per frame on XS):");
    for (const c of seal) {
      console.log(
        `  ${`${c.signatureAlg} + ${c.agreementAlg} + ${c.aeadAlg}`.padEnd(38)} seal ${c.computronsPerFrame.toLocaleString("en").padStart(11)}  first ${c.firstFrameComputrons.toLocaleString("en").padStart(11)}  epoch ${c.epochOpenComputrons.toLocaleString("en").padStart(11)}  slots ${String(c.liveSlotsAfterGc).padStart(6)}  frame ${c.frameBytes} B (+${c.overheadBytes})  announce ${c.announcementBytes} B`,
      );
    }
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
