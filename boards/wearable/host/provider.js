/*
 * ECMA-419 host provider of the wearable board (`embedded:provider/builtin`): the board's buses
 * and pins for code that asks the host for them. The numbers come from the board definition's
 * config (boards/wearable/manifest.json), the same values hal/moddable/config.ts reads.
 */

import config from "mc/config";
import Digital from "embedded:io/digital";
import I2C from "embedded:io/i2c";
import SMBus from "embedded:io/smbus";

const device = {
	I2C: {
		default: {
			io: I2C,
			data: config.i2cData,
			clock: config.i2cClock,
			port: config.i2cPort
		}
	},
	io: { Digital, I2C, SMBus },
	pin: {
		ppgInterrupt: config.ppgInterruptPin
	}
};

export default device;
