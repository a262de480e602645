/**
 * The dashboard answers only its own page: against the real server (started here, stub engine),
 * over node's http and the `ws` client.
 *
 * - Who may connect: the WebSocket upgrade needs the dashboard's Host, its Origin (or no Origin
 *   from loopback) and the run's token; HTTP requests need the Host and no foreign Origin.
 * - The update control pushes only release folders inside the release directory (no "..", no
 *   absolute path elsewhere, no symbolic link out, not even for the files inside).
 * - Every control message passes a schema; a fast-check fuzz of arbitrary JSON, prototype-pollution
 *   shapes, binary frames and raw garbage on the socket leaves the server up and answering.
 */
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import fc from "fast-check";
import WebSocket from "ws";
import { CONTROL_NAMES, DashboardServer } from "../host/dashboard/server.js";
import { parseControlMessage } from "../host/dashboard/control-schema.js";
import { isLoopback, tokenMatches } from "../host/dashboard/guard.js";
import { resolveRelease } from "../host/dashboard/releases.js";
import type { SimEngine } from "../host/sim/engines.js";
import type { SimStatus } from "../simulator/sim-session.js";
import type { SimTelemetry } from "../simulator/sim-telemetry.js";

type Message = { type: string; [k: string]: unknown };

const status = { virtualMs: 1000, firmware: { state: "running" } } as unknown as SimStatus;

/** An engine whose every session control is available; it records what reaches it. */
function stubEngine(calls: { name: string; arg: unknown }[]): SimEngine {
  const telemetry = (s: number): SimTelemetry => ({
    virtualMs: 1000,
    ppg: { rate: 50, firstIndex: s, values: [100, 101, 102] },
    beats: [20],
    beatCount: 1,
    battery: { percent: 99.5, volts: 4.1, usedMah: 0.6 },
    link: { connected: true, mtu: 247, notificationsDelivered: 1, bytesDelivered: 10, notificationsRejected: 0 },
    securityLog: null,
    alerts: null,
    controls: { "link-drop": true, reboot: true, "power-cut": true, scenario: true },
  });
  return {
    name: "node",
    telemetry: async (s: number) => telemetry(s),
    control: async (name: string, arg: unknown) => {
      calls.push({ name, arg });
      return "";
    },
  } as unknown as SimEngine;
}

/** A raw WebSocket upgrade with exactly the headers given: the status code, 101 when accepted. */
function upgradeStatus(port: number, o: { path: string; host?: string; origin?: string }): Promise<{ status: number; body: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": randomBytes(16).toString("base64"),
    };
    if (o.origin !== undefined) headers.origin = o.origin;
    if (o.host !== undefined) headers.host = o.host;
    const req = request({ host: "127.0.0.1", port, path: o.path, headers, setHost: false });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: "", closed: false });
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      // The server closes the socket after a refusal.
      res.socket.once("close", () => resolve({ status: res.statusCode ?? 0, body, closed: true }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** A plain HTTP GET with the headers given: status and body. */
function httpGet(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers, setHost: false }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Runs simulation steps (which carry out queued controls) until `done`. */
async function stepUntil(what: string, done: () => boolean, server: DashboardServer, engine: SimEngine, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await server.hooks().step!(engine, status);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A client the dashboard accepts, with every message it received. */
async function client(server: DashboardServer, host = "127.0.0.1"): Promise<{ ws: WebSocket; messages: Message[]; replies: () => Message[] }> {
  const origin = `http://${host}:${server.port}`;
  const ws = new WebSocket(`ws://${host}:${server.port}/ws?token=${server.token}`, { origin });
  const messages: Message[] = [];
  ws.on("message", (d) => messages.push(JSON.parse(String(d)) as Message));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  await waitFor("hello", () => messages.some((m) => m.type === "hello"));
  return { ws, messages, replies: () => messages.filter((m) => m.type === "error" || m.type === "control-result") };
}

/** A folder that looks like a release (the update push here is a stub that only records it). */
function fakeRelease(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "manifest.cbor"), "m");
  writeFileSync(join(dir, "image.bin"), "i");
  return dir;
}

describe("dashboard security: who may connect", () => {
  let server: DashboardServer;
  before(async () => {
    server = await DashboardServer.start({ port: 0, engine: "node", firmwareVersion: "1.0.0" });
  });
  after(() => server.close());

  it("makes a fresh 128-bit token per run and compares it in constant time", async () => {
    const other = await DashboardServer.start({ port: 0, engine: "node", firmwareVersion: "1.0.0" });
    try {
      assert.match(server.token, /^[0-9a-f]{32}$/);
      assert.notEqual(other.token, server.token);
    } finally {
      await other.close();
    }
    assert.equal(tokenMatches(server.token, server.token), true);
    for (const bad of ["", server.token.slice(1), server.token + "0", server.token.toUpperCase(), 42, null, undefined, [server.token]]) {
      assert.equal(tokenMatches(server.token, bad), false, String(bad));
    }
    assert.ok(isLoopback("127.0.0.1") && isLoopback("::1") && isLoopback("::ffff:127.0.0.1") && isLoopback("127.1.2.3"));
    assert.ok(!isLoopback("10.0.0.1") && !isLoopback("::ffff:10.0.0.1") && !isLoopback(undefined) && !isLoopback("1127.0.0.1"));
  });

  it("accepts the dashboard's own origin, host and token (127.0.0.1 and localhost)", async () => {
    const port = server.port;
    for (const host of ["127.0.0.1", "localhost"]) {
      const r = await upgradeStatus(port, { path: `/ws?token=${server.token}`, host: `${host}:${port}`, origin: `http://${host}:${port}` });
      assert.equal(r.status, 101, host);
    }
    const c = await client(server, "localhost");
    assert.equal((c.messages[0] as { type: string }).type, "hello");
    c.ws.close();
  });

  it("refuses a WebSocket from another origin with 403 and closes the socket", async () => {
    const port = server.port;
    const before = server.counters.refusedUpgrades;
    const origins = [
      `http://127.0.0.1:${port + 1}`,
      "http://evil.example",
      `http://evil.example:${port}`,
      `http://localhost:${port}.evil.example`,
      `https://127.0.0.1:${port}`,
      `http://[::1]:${port}`,
      "null",
      "file://",
      `http://127.0.0.1:${port}, http://evil.example`,
    ];
    for (const origin of origins) {
      const r = await upgradeStatus(port, { path: `/ws?token=${server.token}`, host: `127.0.0.1:${port}`, origin });
      assert.equal(r.status, 403, origin);
      assert.match(r.body, /cross-origin/);
      assert.equal(r.closed, true);
    }
    assert.equal(server.counters.refusedUpgrades, before + origins.length);
    // The ws client sees the refusal as an unexpected response.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${server.token}`, { origin: "http://evil.example" });
    const code = await new Promise<number>((resolve) => ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)));
    assert.equal(code, 403);
  });

  it("refuses a wrong Host header (DNS rebinding) on the WebSocket and on every HTTP request", async () => {
    const port = server.port;
    for (const host of [`evil.example:${port}`, `127.0.0.1:${port + 1}`, `[::1]:${port}`, "127.0.0.1", `127.0.0.2:${port}`, `0.0.0.0:${port}`, ""]) {
      const r = await upgradeStatus(port, { path: `/ws?token=${server.token}`, host, origin: `http://127.0.0.1:${port}` });
      assert.equal(r.status, 403, `upgrade with Host ${host}`);
      // The rebinding page's own origin matches its (wrong) Host: still refused.
      const same = await upgradeStatus(port, { path: `/ws?token=${server.token}`, host, origin: `http://${host}` });
      assert.equal(same.status, 403, `upgrade with Host and Origin ${host}`);
      for (const path of ["/", `/?token=${server.token}`, "/app.js", "/vendor/uplot.js", "/ws", "/nothing"]) {
        const g = await httpGet(port, path, { host });
        assert.equal(g.status, 403, `GET ${path} with Host ${host}`);
        assert.doesNotMatch(g.body, /<html|uPlot/);
      }
    }
    // The right Host with a foreign Origin on a plain request is refused too.
    assert.equal((await httpGet(port, "/", { host: `127.0.0.1:${port}`, origin: "http://evil.example" })).status, 403);
    assert.equal((await httpGet(port, "/", { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` })).status, 200);
    assert.equal((await httpGet(port, "/", { host: `LOCALHOST:${port}` })).status, 200);
    assert.ok(server.counters.refusedRequests > 0);
  });

  it("refuses a missing or wrong token, and a missing Origin unless the token is right (from loopback)", async () => {
    const port = server.port;
    const host = `127.0.0.1:${port}`;
    const origin = `http://127.0.0.1:${port}`;
    const wrong = server.token.replace(/^./, (c) => (c === "0" ? "1" : "0"));
    for (const path of ["/ws", "/ws?token=", `/ws?token=${wrong}`, `/ws?token=${server.token.slice(0, 31)}`, `/ws?token=${server.token}0`, `/ws?token=${server.token.toUpperCase()}`, `/ws?tok=${server.token}`, `/ws?token=${server.token}&token=${server.token}`, `/ws?token=${wrong}&token=${server.token}`]) {
      const r = await upgradeStatus(port, { path, host, origin });
      assert.equal(r.status, 403, path);
      assert.match(r.body, /token/);
      const bare = await upgradeStatus(port, { path, host });
      assert.equal(bare.status, 403, `${path} without Origin`);
    }
    for (const path of [`/ws/?token=${server.token}`, `/wss?token=${server.token}`, `/?token=${server.token}`, `//ws?token=${server.token}`]) {
      assert.equal((await upgradeStatus(port, { path, host, origin })).status, 404, path);
    }
    // Not a browser (no Origin): accepted with the right token over loopback.
    assert.equal((await upgradeStatus(port, { path: `/ws?token=${server.token}`, host })).status, 101);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${server.token}`);
    await new Promise((r) => ws.once("open", r));
    ws.close();
  });
});

describe("dashboard security: at most 16 WebSockets", () => {
  it("refuses the 17th with 503, and takes a new one once another has closed", async () => {
    const server = await DashboardServer.start({ port: 0, engine: "node", firmwareVersion: "1.0.0" });
    try {
      const clients: Awaited<ReturnType<typeof client>>[] = [];
      for (let i = 0; i < 16; i++) clients.push(await client(server));
      const path = `/ws?token=${server.token}`;
      const host = `127.0.0.1:${server.port}`;
      const origin = `http://${host}`;
      const r = await upgradeStatus(server.port, { path, host, origin });
      assert.equal(r.status, 503);
      clients[0].ws.close();
      await new Promise((resolve) => clients[0].ws.once("close", resolve));
      await waitFor("a free place", async () => (await upgradeStatus(server.port, { path, host, origin })).status === 101);
      for (const c of clients) c.ws.close();
    } finally {
      await server.close();
    }
  });
});

describe("dashboard security: the update control pushes only from the release directory", () => {
  let server: DashboardServer;
  let dir = "";
  let root = "";
  let outside = "";
  const pushed: string[] = [];
  const calls: { name: string; arg: unknown }[] = [];
  const engine = stubEngine(calls);

  before(async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "dashboard-security-")));
    root = join(dir, "releases");
    fakeRelease(join(root, "2.0.0"));
    fakeRelease(join(root, "nested", "3.0.0"));
    outside = fakeRelease(join(dir, "elsewhere", "9.9.9"));
    symlinkSync(outside, join(root, "link-out"));
    symlinkSync(join(root, "2.0.0"), join(root, "link-in"));
    mkdirSync(join(root, "file-link-out"));
    symlinkSync(join(outside, "manifest.cbor"), join(root, "file-link-out", "manifest.cbor"));
    writeFileSync(join(root, "file-link-out", "image.bin"), "i");
    mkdirSync(join(root, "empty"));
    server = await DashboardServer.start({ port: 0, engine: "node", firmwareVersion: "1.0.0", releaseRoot: root });
    server.hooks().updates!.register((d) => {
      pushed.push(d);
      return "";
    }, "ble");
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sends an update control, runs a step, and returns its result ("" when pushed). */
  async function push(c: Awaited<ReturnType<typeof client>>, arg: unknown): Promise<string> {
    const n = c.replies().length;
    c.ws.send(JSON.stringify({ type: "control", name: "update", arg }));
    await stepUntil("the update's result", () => c.replies().length > n, server, engine);
    const r = c.replies()[n];
    assert.equal(r.type, "control-result");
    assert.equal(r.name, "update");
    return String(r.error);
  }

  it("pre-fills the newest release inside the directory and pushes releases from there (absolute, relative, symlink inside)", async () => {
    const c = await client(server);
    const controls = (c.messages.find((m) => m.type === "hello") as unknown as { controls: Record<string, { available: boolean; value?: string }> }).controls;
    assert.equal(controls.update.available, true);
    assert.ok(controls.update.value && controls.update.value.startsWith(root), String(controls.update.value));
    assert.equal(await push(c, join(root, "2.0.0")), "");
    // Relative to the working directory, as on the command line.
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      assert.equal(await push(c, relative(dir, join(root, "nested", "3.0.0"))), "");
    } finally {
      process.chdir(cwd);
    }
    assert.equal(await push(c, join(root, "link-in")), "");
    assert.equal(await push(c, ""), "");
    assert.deepEqual(pushed.slice(0, 3), [join(root, "2.0.0"), join(root, "nested", "3.0.0"), join(root, "2.0.0")]);
    assert.equal(pushed.length, 4);
    c.ws.close();
  });

  it("refuses '..', absolute paths elsewhere, symbolic links out, non-releases and non-strings, with the reason", async () => {
    const c = await client(server);
    const n = pushed.length;
    const cases: [unknown, RegExp][] = [
      [`${root}/../elsewhere/9.9.9`, /contains "\.\."/],
      [`${root}/2.0.0/../../elsewhere/9.9.9`, /contains "\.\."/],
      [`${root}/2.0.0/..`, /contains "\.\."/],
      ["..", /contains "\.\."/],
      [`${root}\\..\\elsewhere`, /contains "\.\."/],
      [outside, /is not inside the release directory/],
      ["/etc", /is not inside the release directory/],
      [root, /is not inside the release directory/],
      [join(root, "link-out"), /symbolic link/],
      [join(root, "file-link-out"), /manifest\.cbor leads out of the release directory .* through a symbolic link/],
      [join(root, "empty"), /is not a release folder/],
      [join(root, "nope"), /does not exist/],
      [join(root, "2.0.0", "image.bin"), /is not a folder/],
      [`${join(root, "2.0.0")}\u0000`, /control characters/],
      ["x".repeat(5000), /too long/],
      [{ toString: 1 }, /update needs a release folder \(a string\)/],
      [["build/releases/2.0.0"], /a string/],
      [42, /a string/],
      [null, /a string/],
    ];
    for (const [arg, reason] of cases) {
      const error = await push(c, arg);
      assert.match(error, reason, `${JSON.stringify(arg).slice(0, 80)}: ${error}`);
    }
    assert.equal(pushed.length, n, "nothing refused was pushed");
    c.ws.close();
  });

  it("resolveRelease: the same checks without the server", () => {
    assert.deepEqual(resolveRelease(root, join(root, "2.0.0")), { dir: join(root, "2.0.0") });
    assert.match((resolveRelease(root, join(root, "link-out")) as { error: string }).error, /symbolic link/);
    assert.match((resolveRelease(join(dir, "missing"), join(root, "2.0.0")) as { error: string }).error, /there is no release directory/);
    // A root reached through a symbolic link still works, and is compared by its real path.
    symlinkSync(root, join(dir, "root-link"));
    assert.deepEqual(resolveRelease(join(dir, "root-link"), join(dir, "root-link", "2.0.0")), { dir: join(root, "2.0.0") });
    assert.match((resolveRelease(join(dir, "root-link"), outside) as { error: string }).error, /not inside/);
  });
});

describe("dashboard security: every control message is validated, none can crash the server", () => {
  let server: DashboardServer;
  let dir = "";
  const calls: { name: string; arg: unknown }[] = [];
  const engine = stubEngine(calls);
  const pushed: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "dashboard-fuzz-"));
    server = await DashboardServer.start({ port: 0, engine: "node", firmwareVersion: "1.0.0", releaseRoot: join(dir, "releases"), scenarios: ["rest", "run"] });
    server.hooks().updates!.register((d) => {
      pushed.push(d);
      return "";
    }, "ble");
    await server.hooks().step!(engine, status);
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The server still answers: a new client's valid control is carried out. */
  async function stillAnswers(): Promise<void> {
    const c = await client(server);
    const before = calls.length;
    c.ws.send(JSON.stringify({ type: "control", name: "link-drop", arg: "7" }));
    await stepUntil("link-drop's result", () => c.replies().length > 0, server, engine);
    const r = c.replies()[0];
    assert.deepEqual([r.type, r.name, r.error], ["control-result", "link-drop", ""]);
    assert.deepEqual(calls.slice(before), [{ name: "link-drop", arg: "7" }]);
    c.ws.close();
  }

  it("schema: the fixed names, each argument's type and range", () => {
    const ok = (text: string) => {
      const p = parseControlMessage(text);
      return p.ok ? p.control : null;
    };
    assert.deepEqual(ok('{"type":"control","name":"link-drop","arg":"20"}'), { name: "link-drop", arg: "20" });
    assert.deepEqual(ok('{"type":"control","name":"link-drop","arg":2.5}'), { name: "link-drop", arg: "2.5" });
    assert.deepEqual(ok('{"type":"control","name":"link-drop"}'), { name: "link-drop", arg: "" });
    assert.deepEqual(ok('{"type":"control","name":"reboot","arg":""}'), { name: "reboot", arg: "" });
    assert.deepEqual(ok('{"type":"control","name":"power-cut","arg":"3"}'), { name: "power-cut", arg: "3" });
    assert.deepEqual(ok('{"type":"control","name":"scenario","arg":"off-body"}'), { name: "scenario", arg: "off-body" });
    assert.deepEqual(ok('{"type":"control","name":"update","arg":"build/releases/2.0.0"}'), { name: "update", arg: "build/releases/2.0.0" });
    for (const bad of [
      '{"type":"control","name":"reboot","arg":{"toString":1}}',
      '{"type":"control","name":"reboot","arg":"now"}',
      '{"type":"control","name":"link-drop","arg":3601}',
      '{"type":"control","name":"link-drop","arg":-1}',
      '{"type":"control","name":"link-drop","arg":"1e3"}',
      '{"type":"control","name":"link-drop","arg":{"valueOf":5}}',
      '{"type":"control","name":"power-cut","arg":1.5}',
      '{"type":"control","name":"power-cut","arg":"-1"}',
      '{"type":"control","name":"scenario","arg":"Run; rm -rf /"}',
      '{"type":"control","name":"scenario"}',
      '{"type":"control","name":"update","arg":{"__proto__":{"polluted":1}}}',
      '{"type":"control","name":"__proto__","arg":""}',
      '{"type":"control","name":"constructor"}',
      '{"type":"control","name":"toString"}',
      '{"type":"control","name":"reboot","__proto__":{"arg":"x"}}',
      '{"type":"control","name":"reboot","extra":1}',
      '{"__proto__":{"type":"control","name":"reboot"}}',
      '{"type":"telemetry"}',
      '{"type":"control","name":["reboot"]}',
      '["control","reboot"]',
      "null",
      '"control"',
      "42",
      "",
      "{",
    ]) {
      const p = parseControlMessage(bad);
      assert.equal(p.ok, false, bad);
      assert.ok(!p.ok && p.error.length > 0 && p.error.length < 300, bad);
    }
    assert.equal(parseControlMessage(null).ok, false);
    assert.equal(parseControlMessage(Buffer.from("{}")).ok, false);
    assert.deepEqual(CONTROL_NAMES, ["scenario", "link-drop", "reboot", "power-cut", "update"]);
  });

  it('answers {"arg":{"toString":1}} (which used to kill the process) with an error, and goes on', async () => {
    const c = await client(server);
    const before = server.counters.invalidMessages;
    c.ws.send('{"type":"control","name":"reboot","arg":{"toString":1}}');
    const r = await waitFor("the refusal", () => c.replies()[0]);
    assert.equal(r.type, "control-result");
    assert.equal(r.name, "reboot");
    assert.match(String(r.error), /reboot takes no argument/);
    assert.equal(server.counters.invalidMessages, before + 1);
    c.ws.close();
    await stillAnswers();
  });

  it("fuzz: arbitrary JSON, control shapes, prototype-pollution shapes and binary frames each get one answer; nothing throws", async function () {
    this.timeout(120000);
    const c = await client(server);
    const protoShapes = fc.constantFrom(
      '{"__proto__":{"polluted":true}}',
      '{"type":"control","name":"reboot","arg":{"toString":1}}',
      '{"type":"control","name":"reboot","arg":{"valueOf":1,"toString":1}}',
      '{"type":"control","name":"update","arg":{"__proto__":{"polluted":true}}}',
      '{"type":"control","__proto__":{"name":"reboot"}}',
      '{"constructor":{"prototype":{"polluted":true}}}',
      '{"type":"control","name":"constructor","arg":{"prototype":{"polluted":true}}}',
      '{"type":"control","name":"__proto__","arg":"polluted"}',
      '{"type":"control","name":"hasOwnProperty","arg":""}',
      '{"type":"control","name":"link-drop","arg":{"length":1,"0":"5"}}',
      "[".repeat(20000) + "]".repeat(20000),
      '{"a":'.repeat(5000) + "1" + "}".repeat(5000),
      '"' + "\\u0000".repeat(2000) + '"',
    );
    const controlShapes = fc
      .record({
        type: fc.constantFrom("control", "Control", "", "telemetry"),
        name: fc.oneof(fc.constantFrom(...CONTROL_NAMES, "__proto__", "constructor", "toString", "valueOf", "format-disk"), fc.string()),
        arg: fc.oneof(fc.jsonValue(), fc.string(), fc.double(), fc.integer(), fc.constant(undefined)),
      }, { requiredKeys: ["type", "name"] })
      .map((o) => JSON.stringify(o));
    const message = fc.oneof(
      { arbitrary: protoShapes, weight: 2 },
      { arbitrary: controlShapes, weight: 5 },
      { arbitrary: fc.jsonValue().map((v) => JSON.stringify(v) ?? "null"), weight: 3 },
      { arbitrary: fc.string({ unit: "binary", maxLength: 300 }), weight: 2 },
      { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 2 },
    );
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(message, async (m) => {
        const before = c.replies().length;
        c.ws.send(m, { binary: typeof m !== "string" });
        sent++;
        // Controls that pass the schema wait for the next step; the rest are answered at once.
        await stepUntil(`an answer to message ${sent}`, () => c.replies().length > before, server, engine);
        await new Promise((r) => setTimeout(r, 1));
        assert.equal(c.replies().length, before + 1, `exactly one answer per message: ${JSON.stringify(c.replies().slice(before - 2))}`);
        assert.equal(c.ws.readyState, WebSocket.OPEN);
      }),
      { numRuns: 400, seed: 20251201 },
    );
    // Nothing polluted a prototype, and the backends saw only valid names and string arguments.
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, "polluted"), false);
    for (const call of calls) {
      assert.ok((CONTROL_NAMES as readonly string[]).includes(call.name), call.name);
      assert.equal(typeof call.arg, "string");
    }
    for (const d of pushed) assert.fail(`pushed ${d} from a release directory that does not exist`);
    assert.ok(server.counters.invalidMessages > 100, `${server.counters.invalidMessages} invalid`);
    c.ws.close();
    await stillAnswers();
  });

  it("fuzz: raw garbage on an accepted socket and oversized messages close that connection only", async function () {
    this.timeout(120000);
    const port = server.port;
    const upgraded = async (): Promise<Socket> => {
      const socket = connect(port, "127.0.0.1");
      await new Promise((r) => socket.once("connect", r));
      const key = randomBytes(16).toString("base64");
      socket.write(
        `GET /ws?token=${server.token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: http://127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`,
      );
      let head = "";
      await new Promise<void>((resolve) => {
        const onData = (d: Buffer) => {
          head += d.toString("latin1");
          if (head.includes("\r\n\r\n")) {
            socket.off("data", onData);
            resolve();
          }
        };
        socket.on("data", onData);
      });
      assert.match(head, /^HTTP\/1\.1 101/);
      return socket;
    };
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 2000 }), async (bytes) => {
        const socket = await upgraded();
        socket.on("error", () => {});
        socket.write(bytes);
        await new Promise((r) => setTimeout(r, 5));
        socket.destroy();
      }),
      { numRuns: 60, seed: 7 },
    );
    // A message over maxPayload (64 KiB): the connection is closed with 1009, the server stays.
    const c = await client(server);
    const closed = new Promise<number>((r) => c.ws.once("close", (code) => r(code)));
    c.ws.send(JSON.stringify({ type: "control", name: "update", arg: "x".repeat(70 * 1024) }));
    assert.equal(await closed, 1009);
    await stillAnswers();
  });
});
