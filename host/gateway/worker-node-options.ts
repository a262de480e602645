/**
 * The Node options a gateway worker process runs with (`wearable gateway-worker`, as the fleet's
 * cluster mode starts it, and the gateway section of `npm run bench`, which measures it).
 *
 * - `--single-threaded`: no V8 helper threads (parallel scavenges, concurrent marking and
 *   compilation). A gateway scales by running one worker process per core; helper threads then
 *   only compete with the sibling workers, and their synchronisation costs CPU time of their own.
 * - `--max-semi-space-size=128` (MiB): room for a batch's short-lived objects (decoded frames,
 *   readings, acknowledgements) in the young generation, so that far fewer of them are scavenged
 *   and copied before they die. The space grows only as needed: a worker's resident memory stays
 *   about 200 MiB.
 *
 * Measured with `npm run -s bench -- --only gateway --json` on a 2-core machine: without these
 * options the gateway's frames per CPU second were 0.35 to 0.44 of the raw verify-and-decrypt
 * rate, with them 0.45 to 0.53 (docs/scaling.md, "Throughput").
 */
export const GATEWAY_WORKER_NODE_OPTIONS: readonly string[] = ["--single-threaded", "--max-semi-space-size=128"];
