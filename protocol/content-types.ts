/**
 * The one registry of the protocol's COSE content types (header 3, in the protected bucket of
 * every tagged COSE_Sign1 the system signs). Every signed message type has its own number, so a
 * signature made for one type can never be taken for another, and a reader tells them apart by
 * this header alone. Numbers are CoAP Content-Format values from the experimental range
 * 65000-65535. docs/protocol.md section 18 is the table; `host-tests/protocol-content-types.test.ts`
 * checks that it lists exactly these.
 *
 * | number | message                          | signed by          | where it travels                         |
 * |--------|----------------------------------|--------------------|------------------------------------------|
 * | 65001  | command                          | a role key         | central -> device, in clear              |
 * | 65002  | command result                   | device identity    | inside a data frame (encrypted)          |
 * | 65003  | provisioning bundle              | factory key        | factory -> device                        |
 * | 65004  | provisioning response            | device identity    | device -> factory station                |
 * | 65005  | epoch announcement               | device identity    | device -> gateway, in clear              |
 * | 65006  | reading record                   | device identity    | inside a data frame (encrypted)          |
 * | 65007  | update status report             | device identity    | inside a data frame (encrypted)          |
 * | 65008  | update manifest                  | release key        | gateway -> device, in clear              |
 */
export const CONTENT_TYPE_COMMAND = 65001;
export const CONTENT_TYPE_RESULT = 65002;
export const CONTENT_TYPE_PROVISIONING = 65003;
/** protocol/provisioning.ts (the device's proof of its identity key to the factory station). */
export const CONTENT_TYPE_PROVISIONING_RESPONSE = 65004;
export const CONTENT_TYPE_ANNOUNCEMENT = 65005;
export const CONTENT_TYPE_RECORD = 65006;
export const CONTENT_TYPE_UPDATE_STATUS = 65007;
export const CONTENT_TYPE_MANIFEST = 65008;

/** Every registered content type, by number. */
export const CONTENT_TYPES: Readonly<Record<number, string>> = {
  [CONTENT_TYPE_COMMAND]: "command",
  [CONTENT_TYPE_RESULT]: "command result",
  [CONTENT_TYPE_PROVISIONING]: "provisioning bundle",
  [CONTENT_TYPE_PROVISIONING_RESPONSE]: "provisioning response",
  [CONTENT_TYPE_ANNOUNCEMENT]: "epoch announcement",
  [CONTENT_TYPE_RECORD]: "reading record",
  [CONTENT_TYPE_UPDATE_STATUS]: "update status report",
  [CONTENT_TYPE_MANIFEST]: "update manifest",
};

/** The content types a data frame (COSE_Encrypt0) may carry in its inner COSE_Sign1. */
export const SEALED_CONTENT_TYPES: readonly number[] = [CONTENT_TYPE_RECORD, CONTENT_TYPE_RESULT, CONTENT_TYPE_UPDATE_STATUS];
