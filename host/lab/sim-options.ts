/**
 * Simulator options of the sensing side: `--scenario NAME` and `--fault KIND[:TARGET]@S[+D],...`.
 */
import { SIM_FAULT_KINDS, type ScheduledFault, type SimFaultKind } from "../../hal/sim/board.js";
import { findScenario, scenarioNames, type Scenario } from "../../hal/sim/scenarios.js";

export function parseScenario(name: string): Scenario | string {
  const s = findScenario(name);
  return s ?? `unknown scenario "${name}" (scenarios: ${scenarioNames().join(", ")})`;
}

/** Parses `KIND[:ppg|thermometer|accelerometer]@SECONDS[+DURATION]`, comma-separated; a string says what is wrong. */
export function parseFaults(text: string): ScheduledFault[] | string {
  const out: ScheduledFault[] = [];
  for (const part of text.split(",")) {
    const m = /^\s*([a-z-]+)(?::(ppg|thermometer|accelerometer))?@(\d+(?:\.\d+)?)(?:\+(\d+(?:\.\d+)?))?\s*$/.exec(part);
    if (!m) return `"${part}" is not KIND[:ppg|thermometer|accelerometer]@SECONDS[+DURATION]`;
    if (!SIM_FAULT_KINDS.includes(m[1] as SimFaultKind)) return `unknown fault "${m[1]}" (faults: ${SIM_FAULT_KINDS.join(", ")})`;
    const f: ScheduledFault = { kind: m[1] as SimFaultKind, atS: Number(m[3]) };
    if (m[2]) f.target = m[2] as "ppg" | "thermometer" | "accelerometer";
    if (m[4]) f.durationS = Number(m[4]);
    out.push(f);
  }
  return out;
}
