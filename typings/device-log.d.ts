/** The native log line of hal/moddable/native/device-log.c: xsbug in a debug build, the console otherwise. */
declare module "device-log" {
  export function writeLine(line: string): void;
}
