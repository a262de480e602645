/**
 * `npm run build:esp32 -- [--generate-only] [--debug | --instrument] [network settings]`: builds the wearable's
 * ESP32 image with the Moddable SDK the user installed ($MODDABLE, tools on PATH) and ESP-IDF
 * (IDF_PATH, its export.sh sourced), for the project's board definition (boards/wearable).
 *
 *   --generate-only        runs mcconfig for the board without compiling (needs only the SDK):
 *                          checks the manifest, the board, the BLE services and the FFI glue
 *   --debug                an instrumented build that talks to xsbug over the serial port
 *   --instrument           a release build with XS instrumentation (mcconfig -i): trace() output,
 *                          hal.log lines and the heap figures on the serial console
 *   --wifi-ssid S, --wifi-password P, --mqtt-broker HOST, --mqtt-port N
 *                          the Wi-Fi network and the MQTT broker (mc/config keys wifiSsid,
 *                          wifiPassword, mqttBroker, mqttPort; hal/moddable/config.ts)
 *   --mqtt-ca FILE         the broker's CA certificate (PEM or DER), built into the image as the
 *                          resource mqtt-ca.der: the trust anchor of MQTT over TLS
 *
 * The settings and the certificate go into a manifest of their own (build/mc/manifest) that
 * includes the project's manifest.json, as host/device/sim-moddable.ts does for the simulator.
 * Exit codes: 0 built (or generated), 1 the build failed, 2 a usage error, 3 a prerequisite is
 * missing: without the SDK, or for a full build without ESP-IDF, it prints one line saying what is
 * missing and what to do and exits 3 (never 0: a skipped build is not a build).
 * Flashing is `mcconfig -m -t deploy ...` (docs/device.md).
 */
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { ensurePrivateDir, writeSecretFile } from "../fs/private-files.js";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { formatHelp, parseFlags, UsageError } from "../cli/args.js";
import { compileForModdable, findSdk, mcOutDir, modulesMissingFromManifest, repoRoot, run } from "./moddable-build.js";

/** Resource name of the broker CA certificate (MQTT_CA_RESOURCE in hal/moddable/config.ts). */
export const MQTT_CA_RESOURCE = "mqtt-ca.der";

/** Exit code when the SDK, or ESP-IDF for a full build, is missing (nothing was built). */
export const EXIT_PREREQUISITE_MISSING = 3;

export interface Esp32BuildOptions {
  debug?: boolean;
  /** mcconfig -i: release speed, trace() and instrumentation on the serial console. */
  instrument?: boolean;
  /** mcconfig's output folder (-o); build/mc by default. */
  outDir?: string;
  wifiSsid?: string;
  wifiPassword?: string;
  mqttBroker?: string;
  mqttPort?: number;
  /** The broker's CA certificate, PEM or DER. */
  mqttCa?: string;
}

export interface Esp32Build {
  /** mcconfig's arguments, without -m/-t. */
  args: string[];
  /** The generated build: makefile, mc.config.js, xsProj-esp32 ... */
  tmpDir: string;
  binDir: string;
}

/** DER of the certificate in a PEM or DER file; throws a UsageError when it is not one. */
function certificateDer(file: string): Buffer {
  if (!existsSync(file)) throw new UsageError(`build:esp32: --mqtt-ca ${file}: no such file`);
  try {
    return new X509Certificate(readFileSync(file)).raw;
  } catch (e) {
    throw new UsageError(`build:esp32: --mqtt-ca ${file} is not an X.509 certificate in PEM or DER (${e instanceof Error ? e.message : String(e)})`);
  }
}

/**
 * The mcconfig arguments of the ESP32 build for boards/wearable. With network settings or a CA
 * certificate, writes the manifest that adds them (in <outDir>/manifest) and builds that one.
 */
export function prepareEsp32Build(options: Esp32BuildOptions = {}): Esp32Build {
  const outDir = options.outDir ?? mcOutDir;
  const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;
  const board = join(repoRoot, "boards", "wearable");
  const config: Record<string, string> = {};
  if (options.wifiSsid !== undefined) config.wifiSsid = options.wifiSsid;
  if (options.wifiPassword !== undefined) config.wifiPassword = options.wifiPassword;
  if (options.mqttBroker !== undefined) config.mqttBroker = options.mqttBroker;
  if (options.mqttPort !== undefined) config.mqttPort = String(options.mqttPort);

  let manifest = join(repoRoot, "manifest.json");
  const wrapperDir = join(outDir, "manifest");
  rmSync(wrapperDir, { recursive: true, force: true });
  if (Object.keys(config).length || options.mqttCa) {
    // The wrapper manifest may carry the Wi-Fi password: its folder is 0700, the manifest 0600.
    ensurePrivateDir(wrapperDir);
    const wrapper: Record<string, unknown> = { include: [manifest], config };
    if (options.mqttCa) {
      const der = join(wrapperDir, MQTT_CA_RESOURCE);
      writeFileSync(der, certificateDer(options.mqttCa));
      // mcconfig names a resource after its file: the entry is the path without the extension.
      wrapper.resources = { "*": [der.replace(/\.der$/, "")] };
    }
    manifest = join(wrapperDir, "manifest.json");
    writeSecretFile(manifest, JSON.stringify(wrapper, null, 2));
  }
  const args = [manifest, "-p", `esp32:${board}`, "-o", outDir, `firmwareVersion=${version}`];
  if (options.debug) args.push("-d");
  else if (options.instrument) args.push("-i");
  const flavor = options.debug ? "debug" : options.instrument ? "instrument" : "release";
  return {
    args,
    tmpDir: join(outDir, "tmp", "esp32", "wearable", flavor, "wearable"),
    binDir: join(outDir, "bin", "esp32", "wearable", flavor, "wearable"),
  };
}

const flagSpecs = {
  "generate-only": { type: "boolean", help: "run mcconfig only (needs the SDK, not ESP-IDF)" },
  debug: { type: "boolean", help: "instrumented build that talks to xsbug over the serial port" },
  instrument: { type: "boolean", help: "release build whose trace() and heap figures go to the serial console (mcconfig -i)" },
  "wifi-ssid": { type: "string", valueName: "SSID", help: "Wi-Fi network (mc/config wifiSsid)" },
  "wifi-password": { type: "string", valueName: "PASSWORD", help: "Wi-Fi password (wifiPassword)" },
  "mqtt-broker": { type: "string", valueName: "HOST", help: "MQTT broker host name (mqttBroker; also the TLS server name)" },
  "mqtt-port": { type: "number", integer: true, min: 1, max: 65535, valueName: "PORT", help: "MQTT broker port (mqttPort; 8883 when absent)" },
  "mqtt-ca": { type: "string", valueName: "FILE", help: "the broker's CA certificate, PEM or DER, built in as mqtt-ca.der" },
} as const;

async function main(argv: string[]): Promise<number> {
  const { flags, positional, help } = parseFlags("build:esp32", flagSpecs, argv);
  if (help) {
    process.stdout.write(`${formatHelp("npm run build:esp32 -- [--generate-only] [--debug | --instrument] [--wifi-ssid S --wifi-password P --mqtt-broker HOST [--mqtt-port N] --mqtt-ca FILE]", "Generates (SDK) or builds (SDK and ESP-IDF) the wearable's ESP32 image for boards/wearable.", flagSpecs)}\n`);
    return 0;
  }
  if (positional.length) throw new UsageError(`build:esp32: unexpected argument "${positional[0]}" (see --help)`);
  const generateOnly = flags["generate-only"];
  if (flags.debug && flags.instrument) throw new UsageError("build:esp32: --debug already instruments the build; give one of --debug, --instrument");
  // hal/moddable/config.ts turns Wi-Fi and MQTT on only with both; MQTT is TLS, anchored at the CA.
  if ((flags["wifi-ssid"] === undefined) !== (flags["mqtt-broker"] === undefined)) {
    throw new UsageError("build:esp32: --wifi-ssid and --mqtt-broker go together (the firmware uses Wi-Fi only to reach the broker)");
  }
  if (flags["mqtt-broker"] !== undefined && flags["mqtt-ca"] === undefined) {
    throw new UsageError("build:esp32: MQTT is over TLS: give the broker's CA certificate with --mqtt-ca FILE");
  }

  const sdk = findSdk();
  if (typeof sdk === "string") {
    process.stderr.write(`build:esp32: nothing built: ${sdk}\n`);
    return EXIT_PREREQUISITE_MISSING;
  }
  if (!generateOnly && !process.env.IDF_PATH) {
    process.stderr.write("build:esp32: nothing built: ESP-IDF is not set up (IDF_PATH is unset); install it with Espressif's tooling and source its export.sh (docs/device.md), or pass --generate-only to run mcconfig alone\n");
    return EXIT_PREREQUISITE_MISSING;
  }

  await compileForModdable();
  const missing = modulesMissingFromManifest("esp32");
  if (missing.length) {
    process.stderr.write(`build:esp32: manifest.json does not name these modules: ${missing.join(", ")}\n`);
    return 1;
  }
  const build = prepareEsp32Build({
    debug: flags.debug,
    instrument: flags.instrument,
    wifiSsid: flags["wifi-ssid"],
    wifiPassword: flags["wifi-password"],
    mqttBroker: flags["mqtt-broker"],
    mqttPort: flags["mqtt-port"],
    mqttCa: flags["mqtt-ca"],
  });
  mkdirSync(mcOutDir, { recursive: true });
  const args = generateOnly ? build.args : [...build.args, "-m", "-t", "build"];
  // The Wi-Fi password stays out of the echoed command line (it is in the generated manifest).
  process.stderr.write(`build:esp32: mcconfig ${args.join(" ")}\n`);
  const result = await run(sdk.mcconfig, args, { echo: true });
  if (result.code !== 0) {
    process.stderr.write(`build:esp32: mcconfig failed (exit ${result.code})\n`);
    return 1;
  }
  if (generateOnly) {
    const made = ["makefile", "mc.config.js", "mc.ffi.c"].filter((f) => existsSync(join(build.tmpDir, f)));
    process.stdout.write(`build:esp32: generated the ESP32 build for boards/wearable in ${build.tmpDir} (${made.join(", ")})\n`);
  } else {
    process.stdout.write(`build:esp32: built ${build.binDir}\n`);
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof UsageError ? "" : "build:esp32: "}${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = e instanceof UsageError ? 2 : 1;
    },
  );
}
