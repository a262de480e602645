/**
 * Loads hal/moddable adapters on Node over the fake SDK modules of this folder: esbuild bundles
 * each adapter with the SDK's module specifiers ("bleserver", "embedded:network/mqtt/client",
 * "wifi"...) mapped to the fakes, into a temporary folder under build/, and the result is
 * imported. The fakes' controls (index.ts) are an entry of the same build, with code splitting,
 * so that the test and the adapters share one instance of each fake module.
 *
 * An adapter that imports an SDK module without a fake here fails to bundle, naming the module.
 */
import { build, type Plugin } from "esbuild";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, "../../..");

/** SDK module specifier -> fake file of this folder and the export that stands for the module's default. */
export const FAKE_SDK_MODULES: Readonly<Record<string, { file: string; name: string }>> = {
  bleserver: { file: "bleserver.ts", name: "default" },
  btutils: { file: "btutils.ts", name: "default" },
  sm: { file: "sm.ts", name: "default" },
  "embedded:network/mqtt/client": { file: "mqtt-client.ts", name: "default" },
  "embedded:network/http/client": { file: "http-client.ts", name: "default" },
  "embedded:network/dns/resolver/udp": { file: "net.ts", name: "Resolver" },
  "embedded:io/socket/tcp": { file: "net.ts", name: "TCP" },
  "embedded:io/socket/udp": { file: "net.ts", name: "UDP" },
  "embedded:io/socket/tcp/tls": { file: "net.ts", name: "TLSSocket" },
  wifi: { file: "wifi.ts", name: "default" },
  "network/sntp": { file: "sntp.ts", name: "default" },
  time: { file: "time.ts", name: "default" },
};

/** Files that have no default export of their own (the module is named exports only). */
const NO_DEFAULT = new Set(["btutils.ts", "net.ts"]);

export const fakeSdkPlugin: Plugin = {
  name: "fake-sdk",
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === "entry-point" || args.path.startsWith(".") || args.path.startsWith("/")) return undefined;
      if (args.path.startsWith("node:")) return { path: args.path, external: true };
      if (FAKE_SDK_MODULES[args.path]) return { path: args.path, namespace: "fake-sdk" };
      return { errors: [{ text: `no fake for the SDK module "${args.path}" (imported by ${args.importer}); add one to host-tests/support/fake-sdk` }] };
    });
    b.onLoad({ filter: /.*/, namespace: "fake-sdk" }, (args) => {
      const fake = FAKE_SDK_MODULES[args.path];
      const file = JSON.stringify(`./${fake.file}`);
      const lines = [`export * from ${file};`];
      if (fake.name !== "default" || !NO_DEFAULT.has(fake.file)) lines.push(`export { ${fake.name} as default } from ${file};`);
      return { contents: lines.join("\n"), resolveDir: here, loader: "js" };
    });
  },
};

export type BleLinkModule = typeof import("../../../hal/moddable/ble-link.js");
export type MqttClientModule = typeof import("../../../hal/moddable/mqtt-client.js");
export type WifiStationModule = typeof import("../../../hal/moddable/wifi-station.js");
export type HttpRangeClientModule = typeof import("../../../hal/moddable/http-range-client.js");
export type FakeSdk = typeof import("./index.js");
export type { GattCharacteristicInfo } from "./bleserver.js";

export interface DeviceAdapters {
  ble: BleLinkModule;
  mqtt: MqttClientModule;
  wifi: WifiStationModule;
  http: HttpRangeClientModule;
  sdk: FakeSdk;
  /** Where the bundles were written. */
  dir: string;
  /** Removes the bundles. */
  dispose(): void;
}

const ENTRIES = {
  "ble-link": "hal/moddable/ble-link.ts",
  "mqtt-client": "hal/moddable/mqtt-client.ts",
  "wifi-station": "hal/moddable/wifi-station.ts",
  "http-range-client": "hal/moddable/http-range-client.ts",
  "fake-sdk": "host-tests/support/fake-sdk/index.ts",
} as const;

/** Bundles the adapters over the fake SDK and imports them. */
export async function loadDeviceAdapters(): Promise<DeviceAdapters> {
  mkdirSync(join(repoRoot, "build"), { recursive: true });
  const dir = mkdtempSync(join(repoRoot, "build", "device-adapters-"));
  try {
    await build({
      entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, file]) => [name, join(repoRoot, file)])),
      outdir: dir,
      bundle: true,
      splitting: true,
      format: "esm",
      platform: "node",
      target: "es2022",
      plugins: [fakeSdkPlugin],
      logLevel: "silent",
      legalComments: "none",
    });
    const load = async <T>(name: keyof typeof ENTRIES): Promise<T> => (await import(pathToFileURL(join(dir, `${name}.js`)).href)) as T;
    return {
      ble: await load<BleLinkModule>("ble-link"),
      mqtt: await load<MqttClientModule>("mqtt-client"),
      wifi: await load<WifiStationModule>("wifi-station"),
      http: await load<HttpRangeClientModule>("http-range-client"),
      sdk: await load<FakeSdk>("fake-sdk"),
      dir,
      dispose: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
