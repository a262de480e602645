/** The crypto benchmark's measuring aids (bench-native.c), desktop simulator only. */
declare module "bench-native" {
  /** Microseconds of a monotonic clock. */
  export function microseconds(): number;
  /** [slots in use, chunk bytes in use]; with `collect`, after a garbage collection. */
  export function heap(collect?: boolean): [number, number];
}
