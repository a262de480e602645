/**
 * The fake SDK's controls, bundled together with the hal/moddable adapters (bundle.ts) so that
 * the test drives the very module instances the adapters import.
 */
import { bleRadio, readGattServices, type GattCharacteristicInfo } from "./bleserver.js";
import { uuidText } from "./btutils.js";
import { httpServer } from "./http-client.js";
import { mqttBroker } from "./mqtt-client.js";
import { network, Resolver, TCP, TLSSocket, UDP } from "./net.js";
import { securityManager } from "./sm.js";
import { sntpServer } from "./sntp.js";
import { clockSettings } from "./time.js";
import { wifiRadio } from "./wifi.js";
import MQTTClient from "./mqtt-client.js";

export { bleRadio, clockSettings, httpServer, mqttBroker, MQTTClient, network, readGattServices, Resolver, securityManager, sntpServer, TCP, TLSSocket, UDP, uuidText, wifiRadio };
export type { GattCharacteristicInfo };
export type { ConnectPacket, MqttWrite } from "./mqtt-client.js";
export type { HttpReply, HttpRequestRecord } from "./http-client.js";
export type { Notification } from "./bleserver.js";

/** Puts every fake back in its initial state (the GATT services are kept unless given). */
export function resetFakes(services?: Map<string, GattCharacteristicInfo>): void {
  bleRadio.reset(services);
  mqttBroker.reset();
  httpServer.reset();
  network.reset();
  wifiRadio.reset();
  sntpServer.reset();
  clockSettings.reset();
  securityManager.bondingsDeleted = 0;
}
