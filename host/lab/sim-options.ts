/**
 * Simulator options of the sensing side: `--scenario NAME` and `--fault KIND[:TARGET]@S[+D],...`.
 */
import { SIM_FAULT_KINDS, type ScheduledFault, type SimFaultKind, type SimFaultTarget } from "../../hal/sim/board.js";
import { findScenario, scenarioNames, type Scenario } from "../../hal/sim/scenarios.js";

export function parseScenario(name: string): Scenario | string {
  const s = findScenario(name);
  return s ?? `unknown scenario "${name}" (scenarios: ${scenarioNames().join(", ")})`;
}

/** Why a fault of this kind takes no chip target: it concerns the whole board (hal/sim/board.ts). */
const WHOLE_BOARD: Partial<Record<SimFaultKind, string>> = {
  "bus-stuck": "holds SDA low and stops every chip on the bus",
  "off-body": "takes the whole wearable off the wrist",
};

/** Chips a fault of this kind can target, where not every chip can (the board applies it to the first one otherwise). */
const TARGETS: Partial<Record<SimFaultKind, readonly SimFaultTarget[]>> = {
  saturated: ["ppg", "accelerometer"],
  "fifo-overflow": ["ppg", "accelerometer"],
  "temp-drift": ["thermometer"],
};

/** Parses `KIND[:ppg|thermometer|accelerometer]@SECONDS[+DURATION]`, comma-separated; a string says what is wrong. */
export function parseFaults(text: string): ScheduledFault[] | string {
  const out: ScheduledFault[] = [];
  for (const part of text.split(",")) {
    const m = /^\s*([a-z-]+)(?::(ppg|thermometer|accelerometer))?@(\d+(?:\.\d+)?)(?:\+(\d+(?:\.\d+)?))?\s*$/.exec(part);
    if (!m) return `"${part}" is not KIND[:ppg|thermometer|accelerometer]@SECONDS[+DURATION]`;
    if (!SIM_FAULT_KINDS.includes(m[1] as SimFaultKind)) return `unknown fault "${m[1]}" (faults: ${SIM_FAULT_KINDS.join(", ")})`;
    const when = `@${m[3]}${m[4] ? `+${m[4]}` : ""}`;
    const whole = WHOLE_BOARD[m[1] as SimFaultKind];
    if (whole && m[2]) return `"${m[1]}:${m[2]}": ${m[1]} ${whole}; write ${m[1]}${when} for the whole board, or nack:${m[2]}${when} for that chip alone`;
    const targets = TARGETS[m[1] as SimFaultKind];
    if (targets && m[2] && !targets.includes(m[2] as SimFaultTarget)) return `"${m[1]}:${m[2]}": ${m[1]} applies to ${targets.join(" or ")} only; write ${m[1]}:${targets[0]}${when}, or nack:${m[2]}${when} to fault the ${m[2]}`;
    const f: ScheduledFault = { kind: m[1] as SimFaultKind, atS: Number(m[3]) };
    if (m[2]) f.target = m[2] as "ppg" | "thermometer" | "accelerometer";
    if (m[4]) f.durationS = Number(m[4]);
    out.push(f);
  }
  return out;
}
