/**
 * `npm start -- --transport mqtt|both`: the simulated wearable publishes over mutual TLS to a
 * broker and the gateway subscribes. Without --broker a local mosquitto is started for the run
 * (or one line says how to install it); it accepts the clients whose certificates the run's
 * factory CA issued: the device's, issued when the run's station provisions it, and the
 * gateway's, issued here.
 */
import { readFileSync, existsSync } from "node:fs";
import { UsageError } from "../cli/args.js";
import { simKeys } from "../sim/sim-keys.js";
import type { FactoryCa } from "../provision/pki.js";
import { MOSQUITTO_INSTALL_HINT, mosquittoAvailable, startBroker, type RunningBroker } from "./broker.js";

export interface SimMqttOptions {
  transport: "mqtt" | "both";
  broker: { host: string; port: number; caPem: string; serverName: string };
  /** The device's MQTT client id; its account comes from its certificate. */
  device: { username: string };
  /** The gateway's client id and client certificate (from the factory CA). */
  gateway: { clientId?: string; certPem: string; keyPem: string };
  /** The broker started for the run (absent with --broker). */
  running?: RunningBroker;
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
  /** With --broker: the gateway's client certificate and key (PEM files) from the factory CA. */
  gatewayCert?: string;
  gatewayKey?: string;
}

/**
 * The broker side of a simulator run. `ca` is the run's factory CA (the registry's, or the seed's
 * TEST CA): the broker trusts its client certificates.
 */
export async function prepareSimMqtt(deviceIdHex: string, ca: FactoryCa, f: MqttFlags, say: (line: string) => void): Promise<PreparedMqtt> {
  if (f.broker) {
    const m = /^(127\.0\.0\.1|localhost):(\d{1,5})$/.exec(f.broker);
    if (!m) throw new UsageError(`sim: --broker must be 127.0.0.1:PORT (loopback), not "${f.broker}"`);
    if (!f.ca) throw new UsageError("sim: --broker needs --ca FILE (the CA that signed the broker's certificate)");
    if (!existsSync(f.ca)) throw new Error(`sim: CA file ${f.ca} does not exist`);
    if (!f.gatewayCert || !f.gatewayKey) throw new UsageError("sim: --broker needs --registry (its keys folder holds the gateway's MQTT client certificate, gateway-mqtt.crt and .key; the broker must trust its factory-ca.crt)");
    return {
      options: {
        transport: f.transport,
        broker: { host: "127.0.0.1", port: Number(m[2]), caPem: readFileSync(f.ca, "utf8"), serverName: "127.0.0.1" },
        device: { username: deviceIdHex },
        gateway: { certPem: readFileSync(f.gatewayCert, "utf8"), keyPem: readFileSync(f.gatewayKey, "utf8") },
      },
      async stop() {},
    };
  }
  if (!mosquittoAvailable()) throw new Error(`sim: --transport ${f.transport} without --broker starts a local broker, but ${MOSQUITTO_INSTALL_HINT}`);
  const gateway = ca.issueClientIdentity("gateway");
  const broker = await startBroker({ clientCaPem: ca.certificatePem });
  say(`sim: started mosquitto on 127.0.0.1:${broker.port} (mutual TLS: client certificates from the factory CA, accounts from their CN, per-device ACLs)`);
  return {
    options: {
      transport: f.transport,
      broker: { host: broker.host, port: broker.port, caPem: broker.caPem, serverName: broker.serverName },
      device: { username: deviceIdHex },
      gateway: { certPem: gateway.certificatePem, keyPem: gateway.keyPem },
      running: broker,
    },
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
