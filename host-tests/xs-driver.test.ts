import { strict as assert } from "node:assert";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XsWorker } from "../host/xs/driver.js";

describe("XS driver (xsnap-worker over netstrings)", () => {
  let worker: XsWorker;
  const dir = mkdtempSync(join(tmpdir(), "xsdrv-"));
  writeFileSync(join(dir, "lib.js"), "export const answer = 41;\n");
  writeFileSync(join(dir, "good.js"), 'import { answer } from "./lib.js";\nglobalThis.loaded = answer + 1;\n');
  writeFileSync(join(dir, "bad-import.js"), 'import { missing } from "./lib.js";\nglobalThis.loaded = -1;\n');
  writeFileSync(join(dir, "throws.js"), 'throw new Error("boot failed");\n');
  writeFileSync(join(dir, "syntax.js"), "export const = ;\n");
  const seen: string[] = [];

  before(async () => {
    worker = await XsWorker.start({
      onCommand: (req) => {
        seen.push(Buffer.from(req).toString());
        return new TextEncoder().encode("pong:" + Buffer.from(req).toString());
      },
    });
  });
  after(() => worker.close());

  it("loads a module graph and runs it on XS", async () => {
    await worker.loadModule(join(dir, "good.js"));
    const { value } = await worker.evaluateJson<number>("globalThis.loaded");
    assert.equal(value, 42);
  });

  it("reports a missing import as an error, not a silent success", async () => {
    await assert.rejects(worker.loadModule(join(dir, "bad-import.js")), /import missing not found/);
  });

  it("reports a module that throws while evaluating", async () => {
    await assert.rejects(worker.loadModule(join(dir, "throws.js")), /boot failed/);
  });

  it("reports a syntax error", async () => {
    await assert.rejects(worker.loadModule(join(dir, "syntax.js")), /SyntaxError/);
  });

  it("reports a missing file", async () => {
    await assert.rejects(worker.loadModule(join(dir, "nope.js")), /no module at/);
  });

  it("carries issueCommand calls from XS to the host and back", async () => {
    const { value } = await worker.evaluateJson<string>(
      'new TextDecoder().decode(issueCommand(new TextEncoder().encode("ping").buffer))',
    );
    assert.equal(value, "pong:ping");
    assert.deepEqual(seen, ["ping"]);
  });

  it("calls handleCommand with bytes and returns its ArrayBuffer", async () => {
    await worker.evaluate("globalThis.handleCommand = (buf) => { const u = new Uint8Array(buf); return new Uint8Array([u.length, u[0] + 1]).buffer; };");
    const reply = await worker.command(new Uint8Array([7, 8, 9]));
    assert.deepEqual([...reply.result], [3, 8]);
  });

  it("meters compute deterministically and reports live slots after GC", async () => {
    const loop = "(() => { let s = 0; for (let i = 0; i < 10000; i++) s += i; return undefined; })()";
    const a = await worker.evaluate(loop);
    const b = await worker.evaluate(loop);
    assert.ok(a.meter.compute > 10000, `compute ${a.meter.compute}`);
    assert.equal(a.meter.compute, b.meter.compute);
    const before = await worker.liveSlotsAfterGc();
    await worker.evaluate("globalThis.keep = []; for (let i = 0; i < 5000; i++) keep.push({ i });");
    const grown = await worker.liveSlotsAfterGc();
    assert.ok(grown - before >= 5000, `grew by ${grown - before}`);
    await worker.evaluate("globalThis.keep = null;");
    const shrunk = await worker.liveSlotsAfterGc();
    assert.ok(shrunk < grown - 4000, `after release ${shrunk} vs ${grown}`);
  });

  it("surfaces an exception in evaluated code", async () => {
    await assert.rejects(worker.evaluate("null.x"), /TypeError/);
  });
});
