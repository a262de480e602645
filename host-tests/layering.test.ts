/**
 * Enforces the import rules of docs/architecture.md: what each layer may import, and that
 * portable code uses standard ECMAScript only.
 */
import { strict as assert } from "node:assert";
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { repoRoot } from "../host/xs/build.js";

function listTs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? listTs(p) : n.endsWith(".ts") ? [p] : [];
  });
}

function layerOf(rel: string): string {
  for (const l of ["hal/contracts", "hal/sim", "hal/portable", "hal/moddable/lin", "hal/moddable", "firmware", "protocol", "simulator", "entry", "host-tests/portable", "host-tests", "host"]) {
    if (rel === l || rel.startsWith(l + "/")) return l;
  }
  return "other";
}

/** Layers each layer may import (besides itself). */
const allowed: Record<string, string[]> = {
  "hal/contracts": [],
  protocol: ["hal/contracts"],
  firmware: ["protocol", "hal/contracts"],
  "hal/sim": ["hal/contracts"],
  "hal/portable": ["hal/contracts"],
  // The device's adapters: never the simulator's models, nor @noble (hal/portable), nor the stand-ins.
  "hal/moddable": ["hal/contracts"],
  // The desktop simulator's stand-ins for SDK modules lin lacks (reached only through the manifest).
  "hal/moddable/lin": ["hal/contracts", "hal/sim"],
  // The simulator: the virtual board wired to the firmware (a library the roots and host/ use).
  simulator: ["firmware", "protocol", "hal/contracts", "hal/sim", "hal/portable"],
  entry: ["firmware", "protocol", "hal/contracts", "hal/sim", "hal/portable", "hal/moddable", "simulator"],
  "host-tests/portable": ["firmware", "protocol", "hal/contracts", "hal/sim", "hal/portable", "simulator", "entry"],
};

const portable = ["hal/contracts", "protocol", "firmware", "hal/sim", "hal/portable", "simulator", "host-tests/portable"];
/** Bare packages portable code may import (bundled for XS): the audited crypto only. */
const portablePackages = /^@noble\/(curves|hashes|ciphers)\//;

function importsOf(source: string): string[] {
  const out: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|(?:^|\n)\s*import\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
  let m;
  while ((m = re.exec(source))) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

describe("architecture: import rules and portability", () => {
  const files = ["firmware", "protocol", "hal", "simulator", "entry", "host-tests/portable"].flatMap((d) => listTs(join(repoRoot, d)));

  it("finds the layers", () => {
    assert.ok(files.length > 10, `only ${files.length} files`);
  });

  for (const file of files) {
    const rel = relative(repoRoot, file);
    const layer = layerOf(rel);
    it(`${rel} imports only what ${layer} may`, () => {
      const source = readFileSync(file, "utf8");
      for (const spec of importsOf(source)) {
        if (spec.startsWith(".")) {
          assert.ok(spec.endsWith(".js"), `${rel}: relative import "${spec}" must end in .js`);
          const target = layerOf(relative(repoRoot, resolve(dirname(file), spec)));
          assert.ok(!(layer === "entry" && target === "entry"), `${rel}: composition roots do not import each other ("${spec}"); move what they share to simulator/`);
          if (target === layer) continue;
          assert.ok((allowed[layer] ?? []).includes(target), `${rel} (${layer}) must not import ${spec} (${target})`);
        } else if (portable.includes(layer)) {
          assert.ok(layer === "hal/portable" && portablePackages.test(spec), `${rel}: portable code must not import package "${spec}"`);
        } else if (layer === "entry") {
          assert.fail(`${rel}: entry points import project modules only, not "${spec}"`);
        }
      }
      if (portable.includes(layer) || layer === "entry") {
        const code = stripComments(source);
        for (const banned of [/\bsetTimeout\b/, /\bsetInterval\b/, /\bconsole\./, /\bIntl\./, /\bprocess\./, /\brequire\(/, /\bBuffer\./, /\bDate\.now\(/]) {
          assert.ok(!banned.test(code), `${rel}: portable code uses ${banned.source.replace(/\\b|\\/g, "")}`);
        }
      }
    });
  }
});

/**
 * The host modules that load a composition root into XS or Node by path, with the roots they load:
 * besides the tests, the only code that may import from entry/ (a root's request and reply types).
 */
const rootLoaders: Record<string, string[]> = {
  "host/sim/engines.ts": ["entry/xsnap-worker.ts"],
  "host/release/sim-image.ts": ["entry/xsnap-worker.ts"],
  "host/lab/engine.ts": ["entry/xs-lab.ts"],
  "host/lab/bench-hr.ts": ["entry/xs-lab.ts"],
  "host/bench/bench.ts": ["entry/xs-bench.ts"],
  "host/command/command-bench.ts": ["entry/xs-command-bench.ts"],
  "host/device/moddable-build.ts": ["entry/device.ts"],
};

describe("architecture: entry/ holds composition roots only", () => {
  it("every listed loader names the root it loads", () => {
    for (const [loader, roots] of Object.entries(rootLoaders)) {
      const source = readFileSync(join(repoRoot, loader), "utf8");
      for (const root of roots) {
        assert.ok(existsSync(join(repoRoot, root)), `${root} (loaded by ${loader}) does not exist`);
        assert.ok(source.includes(root.replace(/\.ts$/, "")), `${loader} does not load ${root}: update rootLoaders`);
      }
    }
  });

  it("nothing but the tests and the root loaders imports entry/", () => {
    const offenders: string[] = [];
    for (const file of ["firmware", "protocol", "hal", "simulator", "host"].flatMap((d) => listTs(join(repoRoot, d)))) {
      const rel = relative(repoRoot, file);
      for (const spec of importsOf(readFileSync(file, "utf8"))) {
        if (!spec.startsWith(".")) continue;
        const target = relative(repoRoot, resolve(dirname(file), spec)).replace(/\.js$/, ".ts");
        if (layerOf(target) !== "entry") continue;
        if (!(rootLoaders[rel] ?? []).includes(target)) offenders.push(`${rel} imports ${spec}`);
      }
    }
    assert.deepEqual(offenders, [], "entry/ holds composition roots: import the library from simulator/ (or list a new root loader in rootLoaders)");
  });
});

/**
 * Where each transport lives (docs/architecture.md, "Adding a transport"): its contract, the
 * portable logic the simulator and the device share, and one implementation per platform, found
 * side by side under consistent names. The MQTT session exists once; platforms supply connectors.
 */
const transports: Record<string, { contract: string[]; portable: string[]; simulator: string[]; device: string[]; host: string[] }> = {
  BLE: {
    contract: ["hal/contracts/link.ts"],
    portable: ["firmware/link/uplink.ts", "firmware/link/transport-link.ts", "firmware/link/selecting-link.ts"],
    simulator: ["hal/sim/ble-link.ts"],
    device: ["hal/moddable/ble-link.ts", "hal/moddable/lin/bleserver.ts"],
    host: ["host/ble/central.ts"],
  },
  "MQTT over TLS": {
    contract: ["hal/contracts/mqtt.ts", "hal/contracts/socket.ts"],
    portable: ["firmware/link/mqtt-link.ts"],
    simulator: ["firmware/link/mqtt-socket-client.ts", "hal/sim/socket-network.ts"],
    device: ["hal/moddable/mqtt-client.ts", "hal/moddable/wifi-station.ts", "hal/moddable/tls-client-auth.ts"],
    host: ["host/mqtt/socket-bridge.ts", "host/mqtt/sim-transport.ts"],
  },
  "HTTP range download": {
    contract: ["hal/contracts/http.ts"],
    portable: ["firmware/update/http-download.ts"],
    simulator: [],
    device: ["hal/moddable/http-range-client.ts"],
    host: [],
  },
};

/** The classes that implement a transport contract, and the one file each may live in. */
const transportClasses: Record<string, string> = {
  MqttFrameLink: "firmware/link/mqtt-link.ts",
  MqttSocketClient: "firmware/link/mqtt-socket-client.ts",
  ModdableMqttConnector: "hal/moddable/mqtt-client.ts",
  SelectingLink: "firmware/link/selecting-link.ts",
  SimBleDevice: "hal/sim/ble-link.ts",
  BleFrameLink: "hal/moddable/ble-link.ts",
  UpdateChannel: "hal/moddable/ble-link.ts",
};

describe("architecture: each transport beside its contract", () => {
  const sources = ["firmware", "protocol", "hal", "simulator", "entry", "host"].flatMap((d) => listTs(join(repoRoot, d))).map((f) => ({ rel: relative(repoRoot, f), code: stripComments(readFileSync(f, "utf8")) }));

  it("every file of the transport table exists", () => {
    const missing = Object.values(transports).flatMap((t) => [...t.contract, ...t.portable, ...t.simulator, ...t.device, ...t.host]).filter((f) => !existsSync(join(repoRoot, f)));
    assert.deepEqual(missing, [], "update the transport table here and in docs/architecture.md");
  });

  it("a class implements FrameLink or MqttConnector only in its one file (one MQTT session, connectors per platform)", () => {
    const found: string[] = [];
    for (const { rel, code } of sources) {
      for (const m of code.matchAll(/\bclass\s+(\w+)(?:<[^>{]*>)?(?:\s+extends\s+[\w.]+(?:<[^>{]*>)?)?\s+implements\s+([^{]+)\{/g)) {
        if (!/\b(FrameLink|MqttConnector)\b/.test(m[2])) continue;
        if (transportClasses[m[1]] !== rel) found.push(`${rel}: class ${m[1]} implements ${m[2].trim()}`);
      }
      for (const m of code.matchAll(/\bclass\s+(MqttFrameLink|MqttSocketClient|ModdableMqttConnector)\b/g)) {
        if (transportClasses[m[1]] !== rel) found.push(`${rel}: a second class ${m[1]}`);
      }
    }
    assert.deepEqual(found, [], "a transport implementation belongs in the file the table names (docs/architecture.md, Adding a transport)");
  });

  it("the MQTT wire codec is used by the simulator's connector and the host only, never by the device's adapters", () => {
    const users = sources.filter(({ rel, code }) => importsOf(code).some((s) => s.endsWith("/protocol/mqtt.js")) && rel !== "firmware/link/mqtt-socket-client.ts" && !rel.startsWith("host/")).map((s) => s.rel);
    assert.deepEqual(users, [], "the device speaks MQTT through the SDK's client (hal/moddable/mqtt-client.ts); the session is firmware/link/mqtt-link.ts");
  });

  it("only firmware/link/mqtt-link.ts builds the MQTT topics and presence", () => {
    const users = sources.filter(({ rel, code }) => /\/(frames|commands|acks|status)`/.test(code) && /\bMqtt|mqtt/.test(code) && rel.startsWith("hal/")).map((s) => s.rel);
    assert.deepEqual(users, [], "topics and presence are the session's (firmware/link/mqtt-link.ts), not a connector's");
  });
});

describe("architecture: wire formats are protocol/'s, host/ imports firmware/ behaviour only", () => {
  /**
   * The firmware modules host/ may import, each for behaviour it runs or measures on Node. A wire
   * format the host speaks lives in protocol/ and is imported from there, never from firmware/.
   */
  const hostMayImport: Record<string, string> = {
    "firmware/update/update-agent.ts": "the OTA rig runs the update agent against simulated slots",
    "firmware/security/trust.ts": "the OTA rig installs the release key in its store the way the device keeps it",
    "firmware/app.ts": "the soak run drives whole firmware instances (type only)",
    "firmware/storage/frame-queue.ts": "the queue benchmark measures the durable queue itself",
    "firmware/sensing/biquad.ts": "the lab report filters PPG with the firmware's own filter",
    "firmware/drivers/max30102.ts": "the lab command drives the PPG driver against its chip model",
    "firmware/link/uplink.ts": "the fleet's generator devices resend on the uplink's own acknowledgement timeout",
  };
  /** A module with behaviour: it exports a class, or a function that works on the device's state or HAL. */
  const behaviour = /export\s+(?:default\s+)?(?:abstract\s+)?class\s|export\s+function\s+\w+\s*\([^)]*:\s*(?:PreferenceStore|Hal|Log|FrameLink|Timers|Clock|SMBus|UpdateSlots)\b/;

  for (const [module, reason] of Object.entries(hostMayImport)) {
    it(`${module} is behaviour (${reason})`, () => {
      const file = join(repoRoot, module);
      assert.ok(existsSync(file), `${module} is allowed for host/ but does not exist; remove it from the allowlist`);
      assert.ok(behaviour.test(readFileSync(file, "utf8")), `${module} only defines a format; move it to protocol/ and import it from there`);
    });
  }

  it("host/ imports firmware/ only from the allowlist", () => {
    const offending: string[] = [];
    for (const file of listTs(join(repoRoot, "host"))) {
      for (const spec of importsOf(readFileSync(file, "utf8"))) {
        if (!spec.startsWith(".")) continue;
        const target = relative(repoRoot, resolve(dirname(file), spec)).replace(/\.js$/, ".ts");
        if (target.startsWith("firmware/") && !(target in hostMayImport)) offending.push(`${relative(repoRoot, file)} -> ${target}`);
      }
    }
    assert.deepEqual(offending, [], "host/ imports a firmware module that is not on the allowlist: import formats from protocol/, or add the module with its reason");
  });
});

describe("architecture: sensor chips are named only in their driver, model and table", () => {
  const chipName = /["'`](max30205|tmp117|lis2dh12|max30102)["'`]/;
  /** The drivers and the probe table (firmware/drivers), the chip models and the model table (hal/sim). */
  const chipFile = /^(firmware\/drivers\/[^/]+|hal\/sim\/(chips|max30102|max30205|tmp117|lis2dh12))\.ts$/;

  it("no other module spells a chip name as a string: it takes the name from the tables (firmware/drivers/chips.ts, hal/sim/chips.ts)", () => {
    const offending: string[] = [];
    for (const file of ["firmware", "protocol", "hal", "entry", "simulator", "host"].flatMap((d) => listTs(join(repoRoot, d)))) {
      const rel = relative(repoRoot, file);
      if (chipFile.test(rel)) continue;
      // Comments go, their line breaks stay: the line numbers are the file's.
      const code = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ""));
      const lines = stripComments(code).split("\n");
      lines.forEach((line, i) => {
        const m = chipName.exec(line);
        if (m) offending.push(`${rel}:${i + 1} "${m[1]}"`);
      });
    }
    assert.deepEqual(offending, [], "a chip name outside its driver, model or table: derive it from the tables (ThermometerChip, THERMOMETER_CHIP_NAMES, ...)");
  });
});
