/**
 * CLI commands of the update path: `release` (build and sign), `ota serve` (HTTP with ranges),
 * `ota sweep` (power cut at every flash operation of an update).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { fromHex } from "../../protocol/bytes.js";
import { deviceImageNote, ensureTestReleaseKey, makeRelease } from "../release/release.js";
import { TEST_FAULTS, type TestFault } from "../release/sim-image.js";
import { serveRelease } from "./server.js";
import { runSweep } from "./sweep.js";
import { parseUpdateSpecs, type SimUpdatePlan } from "./sim-push.js";

interface Command {
  summary: string;
  usage: string;
  flags: FlagSpecs;
  run(argv: string[]): Promise<number>;
}

const releaseFlags = {
  version: { type: "string", help: "version of the release (frames of the new image carry it)", valueName: "V" },
  sequence: { type: "number", help: "monotonic sequence number (devices refuse one not above their installed one)", integer: true, min: 1, max: 0xffffffff, valueName: "N" },
  key: { type: "string", help: "release key file {alg, privateKey, publicKey} (default: the simulator's TEST key for --seed)", valueName: "FILE" },
  seed: { type: "number", help: "simulator seed whose TEST release key signs (without --key)", default: 1, integer: true, min: 0, max: 2 ** 31 - 1 },
  out: { type: "string", help: "output folder (default build/releases/V)", valueName: "DIR" },
  "min-battery": { type: "number", help: "battery level below which a device must not start the update", default: 0, integer: true, min: 0, max: 100, valueName: "PCT" },
  image: { type: "string", help: "sign this image file (e.g. the mcconfig output) instead of building the simulator's", valueName: "FILE" },
  "vendor-id": { type: "string", help: "vendor id, 32 hex digits (default this firmware's)", valueName: "HEX" },
  "class-id": { type: "string", help: "device-class id, 32 hex digits (default this firmware's)", valueName: "HEX" },
  "test-fault": { type: "string", help: "build a faulty TEST image to prove rollback", default: "none", choices: TEST_FAULTS },
} satisfies FlagSpecs;

function id16(name: string, v: string | undefined): Uint8Array | undefined {
  if (v === undefined) return undefined;
  const b = fromHex(v);
  if (!b || b.length !== 16) throw new UsageError(`release: --${name} needs 32 hex digits, not "${v}"`);
  return b;
}

export const releaseCommand: Command = {
  summary: "Builds a firmware image and writes a manifest signed with the release key (docs/update.md).",
  usage: "npm run wearable -- release --version V --sequence N [flags]",
  flags: releaseFlags,
  async run(argv) {
    const { flags, positional, help } = parseFlags("release", releaseFlags, argv);
    if (help) {
      console.log(formatHelp(this.usage, this.summary, this.flags));
      return 0;
    }
    if (positional.length) throw new UsageError(`release: unexpected argument "${positional[0]}" (see --help)`);
    if (!flags.version) throw new UsageError("release: --version is required (e.g. --version 2.0.0)");
    if (!/^[0-9A-Za-z.+-]{1,32}$/.test(flags.version)) throw new UsageError(`release: --version must be 1-32 characters of letters, digits, . + -, not "${flags.version}"`);
    if (flags.sequence === undefined) throw new UsageError("release: --sequence is required (a number above the installed release's)");
    const keyPath = flags.key ?? ensureTestReleaseKey(flags.seed!);
    const fault = flags["test-fault"] === "none" ? null : (flags["test-fault"] as TestFault);
    const r = await makeRelease({
      version: flags.version,
      sequence: flags.sequence,
      keyPath,
      outDir: flags.out ?? resolve("build/releases", flags.version),
      minBatteryPercent: flags["min-battery"]!,
      vendorId: id16("vendor-id", flags["vendor-id"]),
      classId: id16("class-id", flags["class-id"]),
      fault,
      imageFile: flags.image,
    });
    if (typeof r === "string") {
      process.stderr.write(`release: ${r}\n`);
      return 1;
    }
    process.stdout.write(
      `release ${flags.version} (sequence ${flags.sequence}${fault ? ", TEST FAULT " + fault : ""}) in ${r.outDir}: image.bin ${r.imageBytes} bytes (SHA-256 ${r.digest.slice(0, 16)}..), manifest.cbor ${r.manifestBytes} bytes signed by ${r.kid} (${keyPath})\n`,
    );
    if (!flags.image) process.stdout.write(`${deviceImageNote()}\n`);
    return 0;
  },
};

const serveFlags = {
  dir: { type: "string", help: "release folder (manifest.cbor, image.bin)", valueName: "DIR" },
  port: { type: "number", help: "port on 127.0.0.1 (0: a free one)", default: 8070, integer: true, min: 0, max: 65535, valueName: "P" },
  seconds: { type: "number", help: "stop after this many seconds (0: until Ctrl-C)", default: 0, min: 0, valueName: "S" },
} satisfies FlagSpecs;

const sweepFlags = {
  json: { type: "boolean", help: "one JSON object on stdout (with every case)" },
  "image-bytes": { type: "number", help: "size of the test image", default: 16384, integer: true, min: 1024, max: 0x1c0000, valueName: "N" },
  chunk: { type: "number", help: "bytes per write of the image", default: 512, integer: true, min: 16, max: 65536, valueName: "N" },
} satisfies FlagSpecs;

export const otaCommand: Command = {
  summary: "Update delivery and testing: `ota serve` hands out a release over HTTP with ranges; `ota sweep` cuts the power at every flash operation of an update.",
  usage: "npm run wearable -- ota serve --dir DIR [--port P]  |  npm run wearable -- ota sweep [--json]",
  flags: {},
  async run(argv) {
    const [sub, ...rest] = argv;
    if (!sub || sub === "--help" || sub === "-h") {
      console.log(
        [
          formatHelp("npm run wearable -- ota serve --dir DIR [flags]", "Serves a release folder over HTTP on 127.0.0.1 with Range support (devices resume downloads).", serveFlags),
          "",
          formatHelp("npm run wearable -- ota sweep [flags]", "Re-runs one update with a power cut at each flash write or erase in turn (update agent and boot-slot model on Node) and prints cutPoints, bootedValid, sequenceDecreased.", sweepFlags),
        ].join("\n"),
      );
      return sub ? 0 : 2;
    }
    if (sub === "serve") {
      const { flags, positional, help } = parseFlags("ota serve", serveFlags, rest);
      if (help) {
        console.log(formatHelp("npm run wearable -- ota serve --dir DIR [flags]", "Serves a release folder over HTTP on 127.0.0.1 with Range support.", serveFlags));
        return 0;
      }
      if (positional.length) throw new UsageError(`ota serve: unexpected argument "${positional[0]}"`);
      if (!flags.dir) throw new UsageError("ota serve: --dir is required (a folder written by `wearable release`)");
      if (!existsSync(resolve(flags.dir, "manifest.cbor")) || !existsSync(resolve(flags.dir, "image.bin"))) {
        process.stderr.write(`ota serve: ${flags.dir} has no manifest.cbor and image.bin; make a release with \`npm run wearable -- release --version V --sequence N --out ${flags.dir}\`\n`);
        return 1;
      }
      const server = await serveRelease(flags.dir, flags.port!);
      process.stdout.write(`ota serve: ${server.url}/manifest.cbor and ${server.url}/image.bin (Range supported)${flags.seconds ? `, for ${flags.seconds} s` : "; Ctrl-C stops"}\n`);
      await new Promise<void>((done) => {
        const stop = () => done();
        process.once("SIGINT", stop);
        if (flags.seconds) setTimeout(stop, flags.seconds * 1000).unref();
      });
      await server.close();
      const counts = Object.entries(server.counts).map(([k, v]) => `${k}: ${v}`).join(", ") || "none";
      process.stdout.write(`ota serve: stopped; answers by status: ${counts}\n`);
      return 0;
    }
    if (sub === "sweep") {
      const { flags, positional, help } = parseFlags("ota sweep", sweepFlags, rest);
      if (help) {
        console.log(formatHelp("npm run wearable -- ota sweep [flags]", "Power cut at each flash operation of one update.", sweepFlags));
        return 0;
      }
      if (positional.length) throw new UsageError(`ota sweep: unexpected argument "${positional[0]}"`);
      const t = performance.now();
      const r = runSweep({ imageBytes: flags["image-bytes"]!, chunkBytes: flags.chunk!, progress: (line) => process.stderr.write(line + "\n") });
      const wallSeconds = Math.round((performance.now() - t) / 100) / 10;
      if (flags.json) process.stdout.write(JSON.stringify({ ...r, wallSeconds }) + "\n");
      else
        process.stdout.write(
          `ota sweep (${r.engine}: update agent + boot-slot model, ${r.imageBytes}-byte image in ${r.chunkBytes}-byte writes): cutPoints ${r.cutPoints}, bootedValid ${r.bootedValid}, sequenceDecreased ${r.sequenceDecreased} ` +
            `(ended on the new image ${r.endedOnNew}, on the old ${r.endedOnOld}); revert of an image failing its self-test: cutPoints ${r.revert.cutPoints}, bootedValid ${r.revert.bootedValid}, sequenceDecreased ${r.revert.sequenceDecreased}; ${wallSeconds} s\n`,
        );
      const ok = r.bootedValid === r.cutPoints && r.sequenceDecreased === 0 && r.revert.bootedValid === r.revert.cutPoints && r.revert.sequenceDecreased === 0;
      return ok ? 0 : 1;
    }
    throw new UsageError(`ota: unknown subcommand "${sub}" (serve, sweep; see --help)`);
  },
};

/** `sim --update DIR@SECONDS --update-via ble|http`. */
export const simUpdateFlags = {
  update: { type: "string", help: "the gateway pushes this release folder to the device at SECONDS (default 10); several: DIR@S,DIR@S", valueName: "DIR@S" },
  "update-via": { type: "string", help: "how the update travels", default: "ble", choices: ["ble", "http"] },
} satisfies FlagSpecs;

export function simUpdatePlan(update: string | undefined, via: string | undefined): SimUpdatePlan[] | undefined {
  if (update === undefined) return undefined;
  const plans = parseUpdateSpecs(update);
  if (typeof plans === "string") throw new UsageError(`sim: --update: ${plans} (example: --update build/releases/2.0.0@10)`);
  for (const p of plans) {
    if (!existsSync(resolve(p.dir, "manifest.cbor"))) throw new UsageError(`sim: --update: ${p.dir} has no manifest.cbor (make one with \`npm run wearable -- release\`)`);
  }
  return plans.map((p) => ({ dir: p.dir, atS: p.atS, via: via === "http" ? "http" : "ble" }));
}
