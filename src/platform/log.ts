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
  write: (line: string) => void = (l) => process.stderr.write(l + "\n"),
): Logger {
  const threshold = ORDER[level] ?? ORDER.info;
  const emit = (lvl: Exclude<LogLevel, "silent">, fields: Record<string, unknown>, msg: string) => {
    if (ORDER[lvl] < threshold) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...bound, ...fields }));
  };
  return {
    debug: (f, m) => emit("debug", f, m),
    info: (f, m) => emit("info", f, m),
    warn: (f, m) => emit("warn", f, m),
    error: (f, m) => emit("error", f, m),
    child: (f) => createLogger(level, { ...bound, ...f }, write),
  };
}
