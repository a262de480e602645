/**
 * The settings registry (protocol/settings.ts) is the one place that names the device's
 * Preference domains and keys: firmware sources neither define a domain or key of their own nor
 * pass a literal name to the store, and every name the registry exports is registered with a
 * type. host-tests/portable/settings.spec.ts checks the accesses of the running firmware.
 */
import { strict as assert } from "node:assert";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { repoRoot } from "../host/xs/build.js";
import { PREFERENCE_NAME_MAX } from "../hal/contracts/store.js";
import * as settings from "../protocol/settings.js";

function listTs(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? listTs(p) : n.endsWith(".ts") ? [p] : [];
  });
}

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

/** The first `count` top-level arguments of the call whose "(" is at `open`. */
function callArguments(code: string, open: number, count: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open + 1; i < code.length && args.length < count; i++) {
    const c = code[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if ((c === ")" || c === "]" || c === "}") && depth > 0) depth--;
    else if ((c === "," || c === ")") && depth === 0) {
      args.push(code.slice(start, i).trim());
      start = i + 1;
      if (c === ")") break;
    }
  }
  return args;
}

describe("settings registry: firmware names every domain and key through protocol/settings.ts", () => {
  const sources = listTs(join(repoRoot, "firmware")).map((file) => ({ rel: relative(repoRoot, file), code: stripComments(readFileSync(file, "utf8")) }));

  it("no firmware module defines a Preference domain or key of its own", () => {
    const definitions = sources.flatMap(({ rel, code }) => [...code.matchAll(/\b(?:const|let|var)\s+(\w*(?:_DOMAINS?|_KEYS|SETTING_\w+|_KEY)\b)\s*=/g)].map((m) => `${rel}: ${m[1]}`));
    assert.deepEqual(definitions, [], "define the domain or key in protocol/settings.ts and import it");
  });

  it("no store access or persistent counter in firmware passes a literal domain or key", () => {
    const literal = /^["'`]/;
    const found: string[] = [];
    for (const { rel, code } of sources) {
      for (const m of code.matchAll(/\b(?:store|Store)\s*\.\s*(get|set|delete|keys)\s*\(|new\s+PersistentCounter\s*\(/g)) {
        const open = (m.index ?? 0) + m[0].length - 1;
        const args = m[0].startsWith("new") ? callArguments(code, open, 3).slice(1) : callArguments(code, open, m[1] === "keys" ? 1 : 2);
        if (args.some((a) => literal.test(a))) found.push(`${rel}: ${code.slice(m.index, open + 1)}${args.join(", ")})`);
      }
    }
    assert.deepEqual(found, [], "name the domain and key with protocol/settings.ts's constants");
  });

  it("every domain and key name the registry exports is registered, with a type, and fits Preference", () => {
    const domains = settings.SETTINGS_REGISTRY.map((d) => d.domain);
    assert.equal(new Set(domains).size, domains.length, "a domain is registered twice");
    for (const d of settings.SETTINGS_REGISTRY) {
      assert.ok(d.domain.length <= PREFERENCE_NAME_MAX, `domain ${d.domain} is longer than ${PREFERENCE_NAME_MAX}`);
      for (const key of Object.keys(d.keys)) assert.ok(key.length <= PREFERENCE_NAME_MAX, `${d.domain}/${key} is longer than ${PREFERENCE_NAME_MAX}`);
    }
    const pairs: [string, Record<string, unknown>][] = [
      [settings.SETTINGS_DOMAIN, settings.SETTINGS_KEYS],
      [settings.ALERTS_DOMAIN, settings.ALERTS_KEYS],
      [settings.SENSING_DOMAIN, settings.SENSING_KEYS],
      [settings.COUNTER_DOMAIN, settings.COUNTER_KEYS],
      [settings.UPDATE_DOMAIN, settings.UPDATE_KEYS],
      [settings.IDENTITY_DOMAIN, settings.IDENTITY_KEYS],
      [settings.FACTORY_DOMAIN, settings.FACTORY_KEYS],
      [settings.BROKER_DOMAIN, settings.BROKER_KEYS],
      [settings.SECURITY_LOG_DOMAIN, settings.SECURITY_LOG_KEYS],
      [settings.TRUST_DOMAIN, settings.TRUST_KEYS],
      [settings.COMMAND_COUNTER_DOMAIN, settings.COMMAND_COUNTER_KEYS],
    ];
    const exportedDomains = Object.entries(settings).filter(([name]) => name.endsWith("_DOMAIN")).map(([, v]) => v as string);
    assert.deepEqual([...exportedDomains].sort(), [...domains].sort(), "every exported domain is registered, and only those");
    for (const [domain, keys] of pairs) {
      for (const [name, key] of Object.entries(keys)) {
        // A key family (a function of a role or an index) must have at least one registered member.
        const names = typeof key === "function" ? ["clinician", "maintainer", "release", 0, 1, 31].map((a) => String((key as (a: unknown) => unknown)(a))) : [key as string];
        assert.ok(names.some((k) => settings.settingSpec(domain, k) !== null), `${domain}/${name} is not registered`);
      }
    }
    for (const d of settings.FACTORY_RESET_DOMAINS) assert.ok(domains.includes(d), `factory reset wipes unregistered domain ${d}`);
  });
});
