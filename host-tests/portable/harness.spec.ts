/**
 * The portable harness's own equality: the other specs' assertions are only as strict as
 * `deepEqual`, on Node and on XS alike.
 */
import { assert, assertEqual, assertThrows, deepEqual, suite, test } from "./harness.js";

suite("portable harness", () => {
  test("Sets are equal when they hold the same members, in any order", () => {
    assert(deepEqual(new Set([1, 2, 3]), new Set([3, 2, 1])), "same members");
    assert(!deepEqual(new Set([1, 2]), new Set([1, 3])), "different members");
    assert(!deepEqual(new Set([1, 2]), new Set([1, 2, 3])), "different sizes");
    assert(!deepEqual(new Set<unknown>(), new Set([undefined])), "empty against one member");
    assert(deepEqual(new Set([[1], { a: 2 }]), new Set([{ a: 2 }, [1]])), "object members compared deeply");
    assert(!deepEqual(new Set([[1], [1]]), new Set([[1], [2]])), "each member is matched once");
    assertThrows(() => assertEqual(new Set(["a"]), new Set(["b"])), /AssertionError/);
  });

  test("Dates are equal when they name the same instant", () => {
    assert(deepEqual(new Date(1767225600000), new Date(1767225600000)), "same time");
    assert(!deepEqual(new Date(1767225600000), new Date(1767225600001)), "a millisecond apart");
    assert(deepEqual(new Date(NaN), new Date(NaN)), "two invalid dates");
    assert(!deepEqual(new Date(0), { }), "a Date is not a plain object");
  });

  test("values with different prototypes are unequal, even with the same own keys", () => {
    class Point {
      constructor(readonly x: number) {}
    }
    assert(!deepEqual(new Point(1), { x: 1 }), "class instance against a plain object");
    assert(!deepEqual([], {}), "array against object");
    assert(!deepEqual(new Set(), new Map()), "Set against Map");
    assert(!deepEqual(new Map(), {}), "Map against a plain object");
    assert(!deepEqual(new Uint8Array(0), new Int8Array(0)), "typed arrays of different kinds");
    assert(!deepEqual(Object.create(null) as object, {}), "null prototype against Object.prototype");
    assert(deepEqual(new Point(1), new Point(1)), "same class, same fields");
    assert(!deepEqual(new Point(1), new Point(2)), "same class, different fields");
  });

  test("Maps, arrays, bytes and plain objects still compare by content", () => {
    assert(deepEqual(new Map([[1, { a: [1, 2] }]]), new Map([[1, { a: [1, 2] }]])), "maps");
    assert(!deepEqual(new Map([[1, 1]]), new Map([[1, 2]])), "map values");
    assert(deepEqual({ a: new Uint8Array([1, 2]) }, { a: new Uint8Array([1, 2]) }), "bytes in objects");
    assert(!deepEqual({ a: 1 }, { a: 1, b: undefined }), "an extra key");
    assert(deepEqual(NaN, NaN), "NaN");
  });
});
