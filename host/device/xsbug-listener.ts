/**
 * The xsbug end of a debug build of the SDK's desktop simulator: a debug `mcconfig -d -p lin` app
 * connects to 127.0.0.1:$XSBUG_PORT when it starts. This listener speaks that protocol through the
 * SDK's own `tools/xsbug-log/xsbug-machine.js` (its `Machine` class), lets the app run (breaking
 * only to report an uncaught exception, then going on), and collects:
 *
 *   - the trace output (`trace()`, the firmware's log), line by line;
 *   - the SDK's instrumentation, sampled by the runtime about once a second: "Chunk used",
 *     "Slot used" (bytes), "Stack used" (bytes, the stack's peak), and the maximum of each over the
 *     run, converted to slots with the simulator's slot size (32 bytes on 64-bit Linux);
 *   - exceptions that reached xsbug, and an abort ("memory full", "stack overflow").
 */
import { createRequire } from "node:module";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";

/** XS's instruments, in the order xsDebug.c reports them (after any of the platform's). */
const XS_INSTRUMENTS = ["Chunk used", "Chunk available", "Slot used", "Slot available", "Stack used", "Stack available", "Garbage collections", "Keys used", "Modules loaded", "Parser used", "Floating Point", "Promises settled"] as const;

/** sizeof(txSlot) in the 64-bit desktop build; 16 on the 32-bit ESP32. */
export const LIN_SLOT_BYTES = 32;
export const ESP32_SLOT_BYTES = 16;

/** The line the measurement build's Debug.gc() traces before its post-collection sample (hal/moddable/lin/native/debug.c). */
export const HEAP_SAMPLE_MARKER = "\u00abheap sample after collection\u00bb";

export interface MemoryPeaks {
  /** Samples taken right after a collection (the peaks below come from these). */
  samples: number;
  /** The runtime's own once-a-second samples, which include garbage not yet collected. */
  rawSamples: number;
  rawPeakSlots: number;
  rawPeakChunkBytes: number;
  peakSlots: number;
  peakChunkBytes: number;
  stackPeakSlots: number;
  /** The creation limits the runtime reported ("Slot available" etc.), for headroom figures. */
  slotCapacity: number;
  chunkCapacity: number;
  stackCapacitySlots: number;
}

interface MachineInstance {
  title?: string;
  instruments: { name: string; unit: string; value?: string }[];
  doGo(): void;
  doSetAllBreakpoint(breakpoints: unknown[], atStart: boolean, atExceptions: boolean): void;
}

export interface XsbugListener {
  readonly port: number;
  readonly memory: MemoryPeaks;
  /** Trace lines of every machine that connected, in order. */
  readonly lines: string[];
  /** Uncaught exceptions and aborts xsbug was told about. */
  readonly faults: string[];
  onLine: ((line: string) => void) | null;
  close(): Promise<void>;
}

function machineClass(moddable: string): new (input: Socket, output: Socket) => MachineInstance {
  const require = createRequire(join(moddable, "tools", "xsbug-log", "package.json"));
  try {
    return (require("./xsbug-machine.js") as { Machine: new (input: Socket, output: Socket) => MachineInstance }).Machine;
  } catch (e) {
    throw new Error(`cannot load the SDK's xsbug-machine.js (${e instanceof Error ? e.message : String(e)}); run "npm install" in $MODDABLE/tools/xsbug-log`);
  }
}

export async function startXsbugListener(moddable: string): Promise<XsbugListener> {
  const Machine = machineClass(moddable);
  const memory: MemoryPeaks = { samples: 0, rawSamples: 0, rawPeakSlots: 0, rawPeakChunkBytes: 0, peakSlots: 0, peakChunkBytes: 0, stackPeakSlots: 0, slotCapacity: 0, chunkCapacity: 0, stackCapacitySlots: 0 };
  const lines: string[] = [];
  const faults: string[] = [];
  const sockets = new Set<Socket>();
  const listener: XsbugListener = { port: 0, memory, lines, faults, onLine: null, close: async () => {} };

  class Collector extends Machine {
    private partial = "";
    /** The next instrument sample follows a collection (the marker line came just before it). */
    afterCollection = false;
    onSample: ((values: string[]) => void) | null = null;
    onInstrumentValues(values: string[]): void {
      this.onSample?.(values);
    }
    onTitleChanged(title: string, tag: string): void {
      // No breakpoints: caught exceptions are part of normal operation; an uncaught one is
      // reported by the runtime in the log ("# Exception", "XS abort").
      (Machine.prototype as unknown as { onTitleChanged(t: string, g: string): void }).onTitleChanged.call(this, title, tag);
    }
    onLogged(_path: string, _line: number, data: string): void {
      this.partial += data;
      let nl: number;
      while ((nl = this.partial.indexOf("\n")) >= 0) {
        const line = this.partial.slice(0, nl);
        this.partial = this.partial.slice(nl + 1);
        if (line === HEAP_SAMPLE_MARKER) {
          this.afterCollection = true;
          continue;
        }
        lines.push(line);
        if (/XS abort|memory full|stack overflow|^# Exception|unhandled exception/i.test(line)) faults.push(line);
        listener.onLine?.(line);
      }
    }
    onBroken(path: string, line: number, text: string): void {
      // A `debugger` statement or a break the runtime asks for: note it and go on.
      const where = path ? ` (${path}:${line})` : "";
      faults.push(`${text}${where}`);
      listener.onLine?.(`xsbug: broke: ${text}${where}`);
      this.doGo();
    }
  }

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const m = new Collector(socket, socket);
    m.onSample = (values) => {
      // XS's own figures are the last twelve of every sample, in xsDebug.c's order (a platform's
      // instruments come first; a sample from fxSampleInstrumentation(the, 0, NULL) has only XS's).
      const xs = values.slice(-XS_INSTRUMENTS.length);
      if (xs.length < XS_INSTRUMENTS.length) return;
      const value = (name: (typeof XS_INSTRUMENTS)[number]) => Number(xs[XS_INSTRUMENTS.indexOf(name)]);
      const slotBytes = value("Slot used");
      if (!Number.isFinite(slotBytes)) return;
      memory.rawSamples++;
      memory.rawPeakSlots = Math.max(memory.rawPeakSlots, Math.round(slotBytes / LIN_SLOT_BYTES));
      memory.rawPeakChunkBytes = Math.max(memory.rawPeakChunkBytes, value("Chunk used") || 0);
      memory.stackPeakSlots = Math.max(memory.stackPeakSlots, Math.round((value("Stack used") || 0) / LIN_SLOT_BYTES));
      memory.slotCapacity = Math.max(memory.slotCapacity, Math.round((value("Slot available") || 0) / LIN_SLOT_BYTES));
      memory.chunkCapacity = Math.max(memory.chunkCapacity, value("Chunk available") || 0);
      memory.stackCapacitySlots = Math.max(memory.stackCapacitySlots, Math.round((value("Stack available") || 0) / LIN_SLOT_BYTES));
      if (!m.afterCollection) return;
      m.afterCollection = false;
      memory.samples++;
      memory.peakSlots = Math.max(memory.peakSlots, Math.round(slotBytes / LIN_SLOT_BYTES));
      memory.peakChunkBytes = Math.max(memory.peakChunkBytes, value("Chunk used") || 0);
    };
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  (listener as { port: number }).port = (server.address() as { port: number }).port;
  listener.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return listener;
}
