/**
 * Files that hold secrets or health data, written so that only their owner can read them.
 *
 * Every file the host tools create that holds keys, key material, readings, raw PPG, signed
 * commands or credentials goes through this module (docs/security.md, "Secrets at rest"):
 *
 * - a file is created with mode 0600 by the `open` that creates it (never chmod after writing,
 *   which would leave a window in which the data is readable); a file that already existed with a
 *   looser mode is truncated and set to 0600 (`fchmod`) before any new byte is written;
 * - a folder the tools create for such files is created with mode 0700. A folder that already
 *   existed is left as it is (it may be the user's working directory or /tmp): the files in it
 *   are 0600 in any case.
 *
 * The process umask can only remove bits from 0600/0700, never add any, so it needs no
 * adjusting; the modes are then set exactly with fchmod/chmod on the file descriptor or on the
 * folders just created (a umask such as 0277 would otherwise leave a file its owner cannot
 * write). Modes are POSIX: on Windows Node ignores them.
 */
import { chmodSync, closeSync, existsSync, fchmodSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join, resolve } from "node:path";

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** Sets an open file to 0600 when it is a regular file with another mode (not a tty, a pipe or /dev/null). */
function restrict(fd: number, path: string): void {
  const st = fstatSync(fd);
  if (st.isFile() && (st.mode & 0o777) !== PRIVATE_FILE_MODE) {
    try {
      fchmodSync(fd, PRIVATE_FILE_MODE);
    } catch (e) {
      throw new Error(`cannot make ${path} private (mode 0600): ${e instanceof Error ? e.message : String(e)}; write to a file you own`);
    }
  }
}

/**
 * Opens a file for writing as `flags` ("w": truncate, "a": append, "wx": create only), created
 * with mode 0600 and set to 0600 if it existed with another mode, before anything is written.
 * The caller closes the descriptor.
 */
export function openPrivateFile(path: string, flags: "w" | "a" | "wx" | "r+" = "w"): number {
  const fd = openSync(path, flags, PRIVATE_FILE_MODE);
  try {
    restrict(fd, path);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

function writeAll(fd: number, data: string | Uint8Array): void {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}

/**
 * Writes `data` to `path` (mode 0600; see the module comment). With `atomic`, the data goes to a
 * new 0600 file beside `path` that then replaces it, so a reader (or a crash) never sees a
 * half-written file; use it for files rewritten while a run goes on.
 */
export function writeSecretFile(path: string, data: string | Uint8Array, options: { atomic?: boolean } = {}): void {
  if (options.atomic) {
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    const fd = openPrivateFile(tmp, "wx");
    try {
      writeAll(fd, data);
    } catch (e) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw e;
    }
    closeSync(fd);
    renameSync(tmp, path);
    return;
  }
  const fd = openPrivateFile(path, "w");
  try {
    writeAll(fd, data);
  } finally {
    closeSync(fd);
  }
}

/** Appends `data` to `path`, creating it with mode 0600 (an existing file is set to 0600 first). */
export function appendSecretFile(path: string, data: string | Uint8Array): void {
  const fd = openPrivateFile(path, "a");
  try {
    writeAll(fd, data);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates `path` empty with mode 0600 when it does not exist, and sets an existing file to 0600;
 * never changes its contents. For files a library opens and writes itself (the SQLite store).
 */
export function touchPrivateFile(path: string): void {
  closeSync(openPrivateFile(path, "a"));
}

/**
 * Sets an existing file that holds secrets to 0600 when its mode is looser (a file written by an
 * older version of the tools); returns whether it changed it. A missing file is left missing.
 */
export function restrictExistingFile(path: string): boolean {
  if (!existsSync(path)) return false;
  const st = statSync(path);
  if (!st.isFile() || (st.mode & 0o777) === PRIVATE_FILE_MODE) return false;
  chmodSync(path, PRIVATE_FILE_MODE);
  return true;
}

/**
 * Creates `dir` and any missing parents with mode 0700; returns `dir`. A folder that already
 * existed keeps its mode (see the module comment) unless `restrictExisting`: for folders that
 * belong to the tools and hold only secrets (build/keys, the TEST CA's folder).
 */
export function ensurePrivateDir(dir: string, options: { restrictExisting?: boolean } = {}): string {
  const abs = resolve(dir);
  if (existsSync(abs)) {
    const st = statSync(abs);
    if (!st.isDirectory()) throw new Error(`${dir} exists and is not a folder`);
    if (options.restrictExisting && (st.mode & 0o777) !== PRIVATE_DIR_MODE) chmodSync(abs, PRIVATE_DIR_MODE);
    return dir;
  }
  const first = mkdirSync(abs, { recursive: true, mode: PRIVATE_DIR_MODE });
  // mkdir applies the umask; set the folders created here to exactly 0700.
  if (first !== undefined) {
    for (let d = abs; ; d = dirname(d)) {
      chmodSync(d, PRIVATE_DIR_MODE);
      if (d === first || dirname(d) === d) break;
    }
  }
  return dir;
}
