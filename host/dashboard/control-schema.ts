/**
 * The one message the dashboard's WebSocket takes: `{"type":"control","name":NAME,"arg":ARG}`,
 * with NAME from a fixed list and ARG of the type and range that control takes. Everything else
 * (not JSON, not an object, other fields, another type, an unknown name, an argument of the
 * wrong type or out of range) is refused with a reason; nothing here throws.
 *
 * | name | arg |
 * |---|---|
 * | scenario | a scenario name: 1-64 of a-z, 0-9, "-" (the session checks it is shipped) |
 * | link-drop | seconds 0-3600 (number, or decimal string as the page's field sends it); absent or "" for 10 |
 * | reboot | none (absent or "") |
 * | power-cut | absent or "" (now), or whole flash operations 0-1000000 (number or digit string) |
 * | update | absent or "" (the pre-filled folder), or a folder path: at most 4096 characters, no control characters (the folder is checked against the release directory when it runs) |
 */

/** Every control the page knows, in display order. */
export const CONTROL_NAMES = ["scenario", "link-drop", "reboot", "power-cut", "update"] as const;
export type ControlName = (typeof CONTROL_NAMES)[number];

/** A control message that passed the schema: the argument normalised to the string the backend takes. */
export interface ValidControl {
  name: ControlName;
  arg: string;
}

export type ParsedMessage =
  | { ok: true; control: ValidControl }
  /** `name` is set when the message named a control (known or not): the reply is then that control's result. */
  | { ok: false; error: string; name?: string };

/** Longest text message considered at all (the WebSocket's maxPayload stops larger ones first). */
export const MAX_MESSAGE_CHARS = 64 * 1024;

const FIELDS = new Set(["type", "name", "arg"]);

/** A string fit for an error message: quoted, printable, short. */
function quote(v: string, max = 64): string {
  const cut = v.length > max ? v.slice(0, max) + "…" : v;
  return JSON.stringify(cut);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "nothing";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return quote(v, 40);
  if (typeof v === "number") return String(v);
  return `a ${typeof v}`;
}

type ArgCheck = (arg: unknown) => { arg: string } | { error: string };

function absentOrEmpty(arg: unknown): boolean {
  return arg === undefined || arg === "";
}

/** A number in [min, max] given as a number or as the string a number field sends. */
function numberArg(arg: unknown, min: number, max: number, integer: boolean): number | null {
  let n: number;
  if (typeof arg === "number") n = arg;
  else if (typeof arg === "string" && (integer ? /^\d{1,7}$/ : /^\d{1,7}(\.\d{1,6})?$/).test(arg)) n = Number(arg);
  else return null;
  if (!Number.isFinite(n) || n < min || n > max) return null;
  if (integer && !Number.isInteger(n)) return null;
  return n;
}

const ARGS: Record<ControlName, ArgCheck> = {
  scenario: (arg) =>
    typeof arg === "string" && /^[a-z0-9][a-z0-9-]{0,63}$/.test(arg) ? { arg } : { error: `scenario needs a scenario name (a-z, 0-9, "-", at most 64), not ${describe(arg)}` },
  "link-drop": (arg) => {
    if (absentOrEmpty(arg)) return { arg: "" };
    const n = numberArg(arg, 0, 3600, false);
    return n === null ? { error: `link-drop needs 0-3600 seconds, not ${describe(arg)}` } : { arg: String(n) };
  },
  reboot: (arg) => (absentOrEmpty(arg) ? { arg: "" } : { error: `reboot takes no argument, not ${describe(arg)}` }),
  "power-cut": (arg) => {
    if (absentOrEmpty(arg)) return { arg: "" };
    const n = numberArg(arg, 0, 1_000_000, true);
    return n === null ? { error: `power-cut takes nothing (now) or a whole number of flash operations 0-1000000, not ${describe(arg)}` } : { arg: String(n) };
  },
  update: (arg) => {
    if (arg === undefined) return { arg: "" };
    if (typeof arg !== "string") return { error: `update needs a release folder (a string), not ${describe(arg)}` };
    if (arg.length > 4096 || /[\u0000-\u001f\u007f]/.test(arg)) return { error: "update: the release folder's name is too long or holds control characters" };
    return { arg };
  },
};

function isControlName(v: string): v is ControlName {
  return (CONTROL_NAMES as readonly string[]).includes(v);
}

/** Checks one WebSocket message (its text) against the schema. Never throws. */
export function parseControlMessage(text: unknown): ParsedMessage {
  if (typeof text !== "string") return { ok: false, error: "messages must be JSON text" };
  if (text.length > MAX_MESSAGE_CHARS) return { ok: false, error: "message too long" };
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return { ok: false, error: "messages must be JSON" };
  }
  const expected = 'expected {"type":"control","name":...,"arg":...}';
  if (m === null || typeof m !== "object" || Array.isArray(m)) return { ok: false, error: expected };
  // JSON.parse makes plain objects; "__proto__" in the text is an own property, caught below.
  const fields = Object.keys(m);
  for (const f of fields) if (!FIELDS.has(f)) return { ok: false, error: `unexpected field ${quote(f, 32)}: ${expected}` };
  const o = m as Record<string, unknown>;
  if (o.type !== "control") return { ok: false, error: expected };
  if (typeof o.name !== "string") return { ok: false, error: expected };
  const name = o.name;
  if (!isControlName(name)) return { ok: false, name: name.slice(0, 64), error: `unknown control ${quote(name)} (controls: ${CONTROL_NAMES.join(", ")})` };
  const checked = ARGS[name](Object.prototype.hasOwnProperty.call(o, "arg") ? o.arg : undefined);
  if ("error" in checked) return { ok: false, name, error: checked.error };
  return { ok: true, control: { name, arg: checked.arg } };
}
