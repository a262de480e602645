/// <reference path="../../typings/index.d.ts" />
/** The XS machine's own services the composition root uses: the image's resources, the collector. */
import Resource from "Resource";
import Debug from "debug";

/** A copy of a resource built into the image (mcconfig "resources"), or null when absent. */
export function imageResource(name: string): ArrayBuffer | null {
  if (!Resource.exists(name)) return null;
  return new Resource(name).slice(0);
}

/** Runs the garbage collector now. */
export function collectGarbage(): void {
  Debug.gc();
}
