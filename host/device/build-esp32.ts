/**
 * `npm run build:esp32 -- [--generate-only] [--debug]`: builds the wearable's ESP32 image with the
 * Moddable SDK the user installed ($MODDABLE, tools on PATH) and ESP-IDF (IDF_PATH, its
 * export.sh sourced), for the project's board definition (boards/wearable).
 *
 *   --generate-only  runs mcconfig for the board without compiling (needs only the SDK):
 *                    checks the manifest, the board, the BLE services and the FFI glue
 *   --debug          an instrumented build that talks to xsbug over the serial port
 *
 * Without the SDK (or, for a full build, without ESP-IDF) it prints one line and exits 0.
 * Flashing is `mcconfig -m -t deploy ...` (docs/device.md).
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { compileForModdable, findSdk, mcOutDir, modulesMissingFromManifest, repoRoot, run } from "./moddable-build.js";

async function main(argv: string[]): Promise<number> {
  const known = new Set(["--generate-only", "--debug", "--help"]);
  const unknown = argv.find((a) => !known.has(a));
  if (unknown) {
    process.stderr.write(`build:esp32: unknown argument ${unknown} (use --generate-only, --debug)\n`);
    return 2;
  }
  if (argv.includes("--help")) {
    process.stdout.write("usage: npm run build:esp32 -- [--generate-only] [--debug]\n");
    return 0;
  }
  const generateOnly = argv.includes("--generate-only");
  const debug = argv.includes("--debug");

  const sdk = findSdk();
  if (typeof sdk === "string") {
    process.stdout.write(`build:esp32: skipped: ${sdk}\n`);
    return 0;
  }
  if (!generateOnly && !process.env.IDF_PATH) {
    process.stdout.write("build:esp32: skipped: ESP-IDF is not set up (install it with Espressif's tooling and source its export.sh; see docs/device.md), or use --generate-only\n");
    return 0;
  }

  await compileForModdable();
  const missing = modulesMissingFromManifest("esp32");
  if (missing.length) {
    process.stderr.write(`build:esp32: manifest.json does not name these modules: ${missing.join(", ")}\n`);
    return 1;
  }
  const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;
  const board = join(repoRoot, "boards", "wearable");
  mkdirSync(mcOutDir, { recursive: true });
  const args = [join(repoRoot, "manifest.json"), "-p", `esp32:${board}`, "-o", mcOutDir, `firmwareVersion=${version}`];
  if (debug) args.push("-d");
  if (!generateOnly) args.push("-m", "-t", "build");
  process.stderr.write(`build:esp32: mcconfig ${args.join(" ")}\n`);
  const result = await run(sdk.mcconfig, args, { echo: true });
  if (result.code !== 0) {
    process.stderr.write(`build:esp32: mcconfig failed (exit ${result.code})\n`);
    return 1;
  }
  const tmp = join(mcOutDir, "tmp", "esp32", "wearable", debug ? "debug" : "release", "wearable");
  if (generateOnly) {
    const made = ["makefile", "mc.config.js", "mc.ffi.c"].filter((f) => existsSync(join(tmp, f)));
    process.stdout.write(`build:esp32: generated the ESP32 build for boards/wearable in ${tmp} (${made.join(", ")})\n`);
  } else {
    process.stdout.write(`build:esp32: built ${join(mcOutDir, "bin", "esp32", "wearable", debug ? "debug" : "release", "wearable")}\n`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`build:esp32: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
