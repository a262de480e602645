/**
 * `npm start -- --transport mqtt|both`: the simulated wearable publishes over TLS to a broker
 * and the gateway subscribes. Without --broker a local mosquitto is started for the run (or one
 * line says how to install it).
 */
import { readFileSync, existsSync } from "node:fs";
import { UsageError } from "../cli/args.js";
import { simKeys } from "../sim/sim-keys.js";
import { MOSQUITTO_INSTALL_HINT, mosquittoAvailable, startBroker } from "./broker.js";

export interface SimMqttOptions {
  transport: "mqtt" | "both";
  broker: { host: string; port: number; caPem: string; serverName: string };
  device: { username: string; password: string };
  gateway: { username: string; password: string };
}

export interface PreparedMqtt {
  options: SimMqttOptions;
  stop(): Promise<void>;
}

export interface MqttFlags {
  transport: "mqtt" | "both";
  /** 127.0.0.1:PORT of a running broker; omitted: start one. */
  broker?: string;
  ca?: string;
  devicePassword?: string;
  gatewayPassword?: string;
}

export async function prepareSimMqtt(deviceIdHex: string, f: MqttFlags, say: (line: string) => void): Promise<PreparedMqtt> {
  if (f.broker) {
    const m = /^(127\.0\.0\.1|localhost):(\d{1,5})$/.exec(f.broker);
    if (!m) throw new UsageError(`sim: --broker must be 127.0.0.1:PORT (loopback), not "${f.broker}"`);
    if (!f.ca) throw new UsageError("sim: --broker needs --ca FILE (the CA that signed the broker's certificate)");
    if (!existsSync(f.ca)) throw new Error(`sim: CA file ${f.ca} does not exist`);
    const devicePassword = f.devicePassword ?? process.env.WEARABLE_DEVICE_PASSWORD;
    const gatewayPassword = f.gatewayPassword ?? process.env.WEARABLE_GATEWAY_PASSWORD;
    if (!devicePassword || !gatewayPassword) throw new UsageError("sim: with --broker set WEARABLE_DEVICE_PASSWORD and WEARABLE_GATEWAY_PASSWORD (the broker accounts)");
    return {
      options: {
        transport: f.transport,
        broker: { host: "127.0.0.1", port: Number(m[2]), caPem: readFileSync(f.ca, "utf8"), serverName: "127.0.0.1" },
        device: { username: deviceIdHex, password: devicePassword },
        gateway: { username: "gateway", password: gatewayPassword },
      },
      async stop() {},
    };
  }
  if (!mosquittoAvailable()) throw new Error(`sim: --transport ${f.transport} without --broker starts a local broker, but ${MOSQUITTO_INSTALL_HINT}`);
  const device = { username: deviceIdHex, password: `sim-device-${Math.random().toString(36).slice(2)}` };
  const gateway = { username: "gateway", password: `sim-gateway-${Math.random().toString(36).slice(2)}` };
  const broker = await startBroker({ devices: [device], gateway });
  say(`sim: started mosquitto on 127.0.0.1:${broker.port} (TLS with a test CA, per-device ACLs)`);
  return {
    options: { transport: f.transport, broker: { host: broker.host, port: broker.port, caPem: broker.caPem, serverName: broker.serverName }, device, gateway },
    stop: () => broker.stop(),
  };
}

/** The broker user name of the simulated device: its id in hex (a provisioned one's, else the seed's). */
export function simDeviceIdHex(seed: number, device?: { deviceId: Uint8Array | string }): string {
  const id = device ? device.deviceId : simKeys(seed).deviceId;
  if (typeof id === "string") return id.toLowerCase();
  let s = "";
  for (const b of id) s += b.toString(16).padStart(2, "0");
  return s;
}
