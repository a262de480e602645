/**
 * Declarations of the Moddable SDK modules this project imports, written for this project from
 * the SDK's documentation and sources (documentation/, modules/, typings/ of the SDK). Only the
 * parts the project uses are declared. hal/moddable files reference this index so that both
 * tsconfig.device.json and the main tsconfig type-check them without the SDK installed.
 */
/// <reference path="./xs.d.ts" />
/// <reference path="./base.d.ts" />
/// <reference path="./embedded-io.d.ts" />
/// <reference path="./embedded-network.d.ts" />
/// <reference path="./embedded-storage.d.ts" />
/// <reference path="./crypt.d.ts" />
/// <reference path="./psa-crypto.d.ts" />
/// <reference path="./device-log.d.ts" />
/// <reference path="./ble.d.ts" />
