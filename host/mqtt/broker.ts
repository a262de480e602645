/**
 * A local mosquitto for tests and `npm start -- --transport mqtt`: mutual TLS on a loopback port.
 * The server certificate comes from a throw-away test CA (made with openssl); every client must
 * present a certificate issued by the factory CA (`require_certificate true`, `cafile` = the
 * factory CA): a device its device certificate (CN = device id, issued at provisioning), the
 * gateway its own (CN = gateway). The broker takes the account name from the certificate's CN
 * (`use_identity_as_username true`); there are no passwords (`allow_anonymous false`, no
 * password file). The ACL lets a device read and write only its own `wearable/<device id>/`
 * topics. Everything lives in a temporary directory removed on stop.
 *
 * Size limits keep one device account from hurting the others (docs/gateway.md, "Limits and
 * abuse"). Retained messages cannot be refused per topic in mosquitto 2.0 (`retain_available
 * false` would disconnect the devices that retain their presence); the gateway ignores retained
 * frames instead.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface BrokerOptions {
  /**
   * PEM of the CA whose client certificates the broker accepts: the factory CA (host/provision/
   * pki.ts), which certifies each device's key at provisioning and the gateway's.
   */
  clientCaPem: string;
  /** Common name of the gateway's client certificate: its account in the ACL (default "gateway"). */
  gatewayUser?: string;
  /** Log mosquitto's output to this function (default: kept in the temp dir only). */
  log?: (line: string) => void;
  /**
   * A CA (PEM certificate and key files) to sign the server certificate with, instead of a fresh
   * one per start: devices whose image carries that CA certificate then trust the broker.
   */
  ca?: { certFile: string; keyFile: string };
}

export interface RunningBroker {
  host: "127.0.0.1";
  port: number;
  /** PEM of the test CA that signed the server certificate. */
  caPem: string;
  /** Server name in the certificate. */
  serverName: string;
  dir: string;
  /** Ends the broker process (a broker outage); clients lose their connections. */
  outage(): Promise<void>;
  /** Starts it again on the same port with the same accounts and certificates. */
  restore(): Promise<void>;
  /**
   * What mosquitto logged so far (notices, warnings, errors): a client's connection names the
   * account its certificate gave it (`u'<CN>'`), a refused handshake says why.
   */
  output(): string;
  stop(): Promise<void>;
}

export const MQTT_TOPIC_ROOT = "wearable";

/**
 * Largest publish payload the broker accepts: 65,536 bytes (`message_size_limit`). The largest
 * legitimate one is a link fragment of at most 4,099 bytes (a 4,096-byte link message and its 3
 * bytes of link framing; devices publish at most 2,048 by default). A bigger publish is discarded
 * by the broker: never forwarded, never retained (its QoS 1 flow still completes).
 */
export const BROKER_MESSAGE_SIZE_LIMIT = 65_536;
/**
 * Largest packet a client may send, header included: 131,072 bytes (`max_packet_size`). A client
 * that sends a bigger one is disconnected.
 */
export const BROKER_MAX_PACKET_SIZE = 131_072;

/**
 * The ACL: the gateway reads frames and presence of every device and writes acks and commands; a
 * device only its own. Accounts are certificate CNs (`use_identity_as_username`).
 */
export function brokerAcl(gatewayUser: string): string {
  return [
    `user ${gatewayUser}`,
    `topic read ${MQTT_TOPIC_ROOT}/+/frames`,
    `topic read ${MQTT_TOPIC_ROOT}/+/status`,
    `topic write ${MQTT_TOPIC_ROOT}/+/acks`,
    `topic write ${MQTT_TOPIC_ROOT}/+/commands`,
    "",
    "# every other account: its own topics only (%u is the account: the device certificate's CN, the device id)",
    `pattern write ${MQTT_TOPIC_ROOT}/%u/frames`,
    `pattern write ${MQTT_TOPIC_ROOT}/%u/status`,
    `pattern read ${MQTT_TOPIC_ROOT}/%u/acks`,
    `pattern read ${MQTT_TOPIC_ROOT}/%u/commands`,
    "",
  ].join("\n");
}

export function mosquittoAvailable(): boolean {
  for (const p of ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/local/bin/mosquitto"]) if (existsSync(p)) return true;
  try {
    execFileSync("mosquitto", ["-h"], { stdio: "ignore" });
    return true;
  } catch (e) {
    return (e as { status?: number }).status !== undefined && (e as { code?: string }).code !== "ENOENT";
  }
}

export const MOSQUITTO_INSTALL_HINT = "mosquitto is not installed: apt-get install mosquitto (Debian/Ubuntu) or brew install mosquitto";

function mosquittoPath(): string {
  for (const p of ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/local/bin/mosquitto"]) if (existsSync(p)) return p;
  return "mosquitto";
}

/** A free TCP port on 127.0.0.1 (the OS picks it; another process may take it before it is used). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A TEST CA (openssl; P-256 key, `days` days) in `dir`: ca.key and ca.crt. */
export function makeTestCa(dir: string, days = 2): void {
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"]);
  run(["req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", String(days), "-subj", "/CN=wearable test CA", "-out", "ca.crt"]);
}

/**
 * A server certificate for 127.0.0.1 signed by the CA in `dir` (P-256, 2 days). server-chain.crt
 * holds the server certificate and the CA's: TLS clients that check the chain up to a trust
 * anchor they were given (the SDK's TLS) get every link.
 */
export function makeCertificates(dir: string, ca?: { certFile: string; keyFile: string }): void {
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  if (ca) {
    writeFileSync(join(dir, "ca.crt"), readFileSync(ca.certFile));
    writeFileSync(join(dir, "ca.key"), readFileSync(ca.keyFile), { mode: 0o600 });
  } else makeTestCa(dir);
  run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key"]);
  run(["req", "-new", "-key", "server.key", "-subj", "/CN=127.0.0.1", "-out", "server.csr"]);
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  run(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-sha256", "-extfile", "server.ext", "-out", "server.crt"]);
  writeFileSync(join(dir, "server-chain.crt"), readFileSync(join(dir, "server.crt"), "utf8") + readFileSync(join(dir, "ca.crt"), "utf8"));
}

export async function startBroker(o: BrokerOptions): Promise<RunningBroker> {
  if (!mosquittoAvailable()) throw new Error(MOSQUITTO_INSTALL_HINT);
  const dir = mkdtempSync(join(tmpdir(), "wearable-mqtt-"));
  try {
    makeCertificates(dir, o.ca);
    writeFileSync(join(dir, "clients-ca.crt"), o.clientCaPem);
    writeFileSync(join(dir, "acl"), brokerAcl(o.gatewayUser ?? "gateway"));
    const port = await freePort();
    const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
    const conf = [
      "per_listener_settings false",
      // No passwords: every client authenticates with a certificate from the factory CA.
      "allow_anonymous false",
      `acl_file ${join(dir, "acl")}`,
      "persistence false",
      // One device must not be able to hurt the others (docs/gateway.md, "Limits and abuse").
      `message_size_limit ${BROKER_MESSAGE_SIZE_LIMIT}`,
      `max_packet_size ${BROKER_MAX_PACKET_SIZE}`,
      // Small packets (PUBACKs, acks) go out at once: with Nagle they wait for the peer's delayed ACK,
      // which caps QoS 1 throughput to the gateway (a 1000-device fleet then overflows its queue).
      "set_tcp_nodelay true",
      `listener ${port} 127.0.0.1`,
      "protocol mqtt",
      // Client certificates: required, checked against the factory CA (chain, validity, clientAuth),
      // and the account is the certificate's CN (the device id; "gateway" for the gateway).
      `cafile ${join(dir, "clients-ca.crt")}`,
      "require_certificate true",
      "use_identity_as_username true",
      `certfile ${join(dir, "server-chain.crt")}`,
      `keyfile ${join(dir, "server.key")}`,
      "tls_version tlsv1.2",
      "log_dest stderr",
      "log_type error",
      "log_type warning",
      "log_type notice",
      ...(isRoot ? ["user root"] : []),
      "",
    ].join("\n");
    writeFileSync(join(dir, "mosquitto.conf"), conf);
    let output = "";
    const launch = async (): Promise<ChildProcess> => {
      const c: ChildProcess = spawn(mosquittoPath(), ["-c", join(dir, "mosquitto.conf")], { stdio: ["ignore", "ignore", "pipe"] });
      c.stderr?.on("data", (d: Buffer) => {
        output += d.toString();
        if (o.log) for (const line of d.toString().split("\n")) if (line.trim()) o.log(line);
      });
      await waitForPort(port, c, () => output);
      return c;
    };
    const end = async (c: ChildProcess) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    };
    let child = await launch();
    const caPem = readFileSync(join(dir, "ca.crt"), "utf8");
    let stopped = false;
    return {
      async outage() {
        await end(child);
      },
      async restore() {
        if (!stopped && (child.exitCode !== null || child.signalCode !== null)) child = await launch();
      },
      output: () => output,
      host: "127.0.0.1",
      port,
      caPem,
      serverName: "127.0.0.1",
      dir,
      async stop() {
        if (stopped) return;
        stopped = true;
        await end(child);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited (${child.exitCode}): ${output().trim()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  throw new Error(`mosquitto did not listen on 127.0.0.1:${port} within 5 s: ${output().trim()}`);
}
