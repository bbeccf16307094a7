/**
 * Structured JSON logs, one object per line on stderr, with a level, a
 * message and bound fields (request_id, runner_id, app, ...). Never log a
 * secret: callers pass ids, not keys.
 *
 * Levels: debug < info < warn < error; `silent` writes nothing. The default
 * is info (FALPLANE_LOG_LEVEL). A line below the level costs a comparison.
 * The gateway writes one info line per call (docs/performance.md, "Logging").
 */
export interface Logger {
  /** Detail an operator turns on when looking into something (FALPLANE_LOG_LEVEL=debug). */
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
  child(fields: Record<string, unknown>): Logger;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

export function createLogger(
  level: LogLevel = (process.env.FALPLANE_LOG_LEVEL as LogLevel) ?? "info",
  bound: Record<string, unknown> = {},
  write: (line: string) => void = stderrLines(),
): Logger {
  return new JsonLogger(ORDER[level] ?? ORDER.info, bound, write);
}

/**
 * One object per logger, its methods on the prototype: the gateway makes a
 * child per call (request_id, app), so a child is one allocation, not a set
 * of closures.
 */
class JsonLogger implements Logger {
  constructor(
    private readonly threshold: number,
    private readonly bound: Record<string, unknown>,
    private readonly write: (line: string) => void,
    /** A child's own fields, kept apart from its parent's until a line is written (most children write one line, or none). */
    private readonly own?: Record<string, unknown>,
  ) {}

  debug(fields: Record<string, unknown>, msg: string): void {
    if (this.threshold <= ORDER.debug) this.emit("debug", fields, msg);
  }

  info(fields: Record<string, unknown>, msg: string): void {
    if (this.threshold <= ORDER.info) this.emit("info", fields, msg);
  }

  warn(fields: Record<string, unknown>, msg: string): void {
    if (this.threshold <= ORDER.warn) this.emit("warn", fields, msg);
  }

  error(fields: Record<string, unknown>, msg: string): void {
    if (this.threshold <= ORDER.error) this.emit("error", fields, msg);
  }

  child(fields: Record<string, unknown>): Logger {
    return new JsonLogger(this.threshold, this.own ? { ...this.bound, ...this.own } : this.bound, this.write, fields);
  }

  private emit(level: string, fields: Record<string, unknown>, msg: string): void {
    this.write(JSON.stringify({ time: isoNow(), level, msg, ...this.bound, ...this.own, ...fields }));
  }
}

let lastMs = 0;
let lastIso = "";
/** The current time as ISO 8601, formatted once per millisecond (busy processes log several lines in one). */
function isoNow(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

/**
 * Lines written to `out` in batches: one write per turn of the event loop
 * (setImmediate) instead of one system call per line, which cost as much as
 * the rest of a log line on the gateway's hot path, and comes after the
 * answer that produced the line rather than before it. What is still
 * buffered when the process exits (process.exit, an uncaught exception, the
 * end of the event loop) is written then; a SIGKILL loses at most one turn's
 * lines.
 */
export function batchedLines(out: (chunk: string) => void): (line: string) => void {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const chunk = pending.join("\n") + "\n";
    pending = [];
    out(chunk);
  };
  process.once("exit", flush);
  return (line) => {
    pending.push(line);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

let stderrSink: ((line: string) => void) | undefined;
/** The default sink: stderr, batched (one per process, so lines of every logger keep their order). */
function stderrLines(): (line: string) => void {
  return (stderrSink ??= batchedLines((chunk) => process.stderr.write(chunk)));
}
