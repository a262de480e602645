/** `sm` (BLE security manager) for the desktop simulator's BLE stand-in: the SDK's constants. */
export const IOCapability = Object.freeze({
  NoInputNoOutput: 0,
  DisplayOnly: 1,
  KeyboardOnly: 2,
  KeyboardDisplay: 3,
  DisplayYesNo: 4,
});

const SM = {
  deleteAllBondings(): void {},
};
export default SM;
