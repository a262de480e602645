/**
 * The GATT characteristics of bleservices/*.json by name, with the operations each allows. The
 * desktop BLE stand-in (bleserver.ts) serves exactly these; host-tests/device-build.test.ts
 * checks that this table matches the JSON files the ESP32 build deploys.
 */
export interface GattCharacteristicInfo {
  uuid: string;
  properties: string[];
}

export const GATT_TABLE: Record<string, GattCharacteristicInfo> = {
  battery: { uuid: "2A19", properties: ["read"] },
  manufacturer: { uuid: "2A29", properties: ["read"] },
  model: { uuid: "2A24", properties: ["read"] },
  firmware: { uuid: "2A26", properties: ["read"] },
  device_name: { uuid: "2A00", properties: ["read"] },
  appearance: { uuid: "2A01", properties: ["read"] },
  temperature: { uuid: "2A1C", properties: ["indicate"] },
  measurement: { uuid: "2A37", properties: ["notify"] },
  location: { uuid: "2A38", properties: ["read"] },
  frames: { uuid: "7A1E0002-5C3B-4E2A-9F4D-1B8E6A0C2D10", properties: ["notify"] },
  commands: { uuid: "7A1E0003-5C3B-4E2A-9F4D-1B8E6A0C2D10", properties: ["write"] },
  acks: { uuid: "7A1E0004-5C3B-4E2A-9F4D-1B8E6A0C2D10", properties: ["write", "writeNoResponse"] },
  update: { uuid: "7A1E0005-5C3B-4E2A-9F4D-1B8E6A0C2D10", properties: ["write", "writeNoResponse", "notify"] },
};
