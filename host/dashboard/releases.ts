/**
 * The release folders the dashboard's update control may push: only those under the release
 * directory (`build/releases` under the working directory, where `npm run wearable -- release`
 * writes by default; `WEARABLE_RELEASE_DIR` moves it). A folder the page names is resolved with
 * realpath (symbolic links followed) and must lie inside the release directory's realpath, and so
 * must its manifest.cbor and image.bin; a name with a ".." segment is refused outright.
 */
import { existsSync, readdirSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";

/** The release directory: `WEARABLE_RELEASE_DIR`, else build/releases, against the working directory. */
export function releaseRoot(): string {
  return resolve(process.env.WEARABLE_RELEASE_DIR || "build/releases");
}

/** `child` lies strictly inside `parent` (both absolute, already resolved). */
export function isInside(parent: string, child: string): boolean {
  const r = relative(parent, child);
  return r !== "" && r !== ".." && !r.startsWith(".." + sep) && !isAbsolute(r);
}

/** A path as shown in a message: quoted, cut short. */
function shown(p: string): string {
  return JSON.stringify(p.length > 200 ? p.slice(0, 200) + "…" : p);
}

/**
 * Resolves the folder `input` names (relative to the working directory, or absolute) to its real
 * path when it is a release folder inside `root`; otherwise says why not.
 */
export function resolveRelease(root: string, input: string): { dir: string } | { error: string } {
  const where = `the release directory ${root}`;
  if (typeof input !== "string" || input.trim() === "") return { error: "name a release folder" };
  if (input.length > 4096 || /[\u0000-\u001f\u007f]/.test(input)) return { error: "the release folder's name is too long or holds control characters" };
  if (input.split(/[\\/]/).includes("..")) return { error: `${shown(input)} contains "..": the dashboard pushes only release folders inside ${where}` };
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch {
    return { error: `there is no release directory ${root} (make a release with \`npm run wearable -- release --version 2.0.0 --sequence 2\`)` };
  }
  const candidate = resolve(input);
  let real: string;
  try {
    real = realpathSync(candidate);
  } catch {
    return { error: `${shown(input)} does not exist` };
  }
  if (!isInside(realRoot, real)) {
    const viaLink = isInside(resolve(root), candidate) || isInside(realRoot, candidate);
    return { error: viaLink ? `${shown(input)} leads out of ${where} through a symbolic link: refused` : `${shown(input)} is not inside ${where}: the dashboard pushes only releases from there` };
  }
  if (!statSync(real).isDirectory()) return { error: `${shown(input)} is not a folder` };
  for (const name of ["manifest.cbor", "image.bin"]) {
    let file: string;
    try {
      file = realpathSync(join(real, name));
    } catch {
      return { error: `${shown(input)} is not a release folder (needs manifest.cbor and image.bin; make one with \`npm run wearable -- release\`)` };
    }
    if (!isInside(realRoot, file)) return { error: `${shown(input)}: ${name} leads out of ${where} through a symbolic link: refused` };
    if (!statSync(file).isFile()) return { error: `${shown(input)}: ${name} is not a file` };
  }
  return { dir: real };
}

/** The newest folder under `root` that the update control would accept, or "" when there is none. */
export function newestRelease(root = releaseRoot()): string {
  let best = "";
  let bestMs = -Infinity;
  try {
    for (const name of readdirSync(root)) {
      const dir = resolve(root, name);
      if (!existsSync(join(dir, "manifest.cbor")) || "error" in resolveRelease(root, dir)) continue;
      const ms = statSync(dir).mtimeMs;
      if (ms > bestMs) {
        best = dir;
        bestMs = ms;
      }
    }
  } catch {
    return "";
  }
  // Shown on the page: relative to the working directory when it lies inside it.
  return best && isInside(process.cwd(), best) ? relative(process.cwd(), best) : best;
}
