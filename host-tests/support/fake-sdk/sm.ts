/** Fake of the SDK's `sm` (BLE security manager): its constants, and the bondings deleted. */
export const IOCapability = Object.freeze({
  NoInputNoOutput: 0,
  DisplayOnly: 1,
  KeyboardOnly: 2,
  KeyboardDisplay: 3,
  DisplayYesNo: 4,
});

export const securityManager = { bondingsDeleted: 0 };

const SM = {
  deleteAllBondings(): void {
    securityManager.bondingsDeleted++;
  },
};
export default SM;
