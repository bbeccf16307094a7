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
    /** `bound` as JSON text (see boundText), when the parent already made it. */
    private boundJson?: string | null,
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
    if (this.own) return new JsonLogger(this.threshold, { ...this.bound, ...this.own }, this.write, fields);
    // The common case, a child of a long-lived logger: it shares the parent's bound fields and their text.
    return new JsonLogger(this.threshold, this.bound, this.write, fields, this.boundText());
  }

  /**
   * The line is `{"time","level","msg", bound fields, own fields, the line's
   * fields}`, a later field replacing an earlier one of the same name. It is
   * written as JSON text pieces (the bound fields' text made once per
   * long-lived logger) rather than by stringifying a merged copy, which cost
   * a third of the gateway's access line; a line where a name repeats takes
   * the merged copy.
   */
  private emit(level: string, fields: Record<string, unknown>, msg: string): void {
    const time = isoNow();
    const bound = this.boundText();
    const own = this.own;
    if (bound === null || (own !== undefined && repeats(own, this.bound, undefined)) || repeats(fields, this.bound, own)) {
      this.write(JSON.stringify({ time, level, msg, ...this.bound, ...own, ...fields }));
      return;
    }
    this.write(`{"time":"${time}","level":"${level}","msg":${JSON.stringify(msg)}${bound}${own === undefined ? "" : members(own)}${members(fields)}}`);
  }

  /** `,"k":v,...` of the bound fields ("" when none); null when one of them is named like a line key. */
  private boundText(): string | null {
    if (this.boundJson === undefined) this.boundJson = LINE_KEYS.some((k) => k in this.bound) ? null : members(this.bound);
    return this.boundJson;
  }
}

/** Keys every line starts with: fields of these names take the merged path (emit). */
const LINE_KEYS = ["time", "level", "msg"];

/** `,"k":v,...` of an object's fields, "" when it has none. */
function members(o: Record<string, unknown>): string {
  const text = JSON.stringify(o);
  return text.length > 2 ? `,${text.slice(1, -1)}` : "";
}

/** Whether `fields` names a field of `bound` or `own`, or a line key: emit then merges. */
function repeats(fields: Record<string, unknown>, bound: Record<string, unknown>, own: Record<string, unknown> | undefined): boolean {
  for (const k in fields) {
    if (k in bound || (own !== undefined && k in own) || LINE_KEYS.includes(k)) return true;
  }
  return false;
}

let lastSecond = -1;
let secondPrefix = "";
/**
 * The current time as ISO 8601 with milliseconds. Date's toISOString runs
 * once per second: within a second only the milliseconds change (the
 * gateway logs about one line a millisecond, and formatting each cost more
 * than the rest of the line).
 */
function isoNow(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    // "2026-12-02T16:25:38." from "2026-12-02T16:25:38.123Z"
    secondPrefix = new Date(second * 1000).toISOString().slice(0, -4);
  }
  const ms = now - second * 1000;
  return `${secondPrefix}${ms < 10 ? "00" : ms < 100 ? "0" : ""}${ms}Z`;
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
