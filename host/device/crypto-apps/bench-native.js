/* Host functions of bench-native.c (types in bench-native-types.d.ts). */

function microseconds() @ "xs_bench_microseconds";
function heap(collect) @ "xs_bench_heap";

export { microseconds, heap };
