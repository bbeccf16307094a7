/**
 * Structured JSON logs, one object per line on stderr, with a level, a
 * message and bound fields (request_id, runner_id, app, ...). Never log a
 * secret: callers pass ids, not keys.
 */
export interface Logger {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
  child(fields: Record<string, unknown>): Logger;
}

export type LogLevel = "info" | "warn" | "error" | "silent";

const ORDER: Record<LogLevel, number> = { info: 1, warn: 2, error: 3, silent: 4 };

export function createLogger(
  level: LogLevel = (process.env.FALPLANE_LOG_LEVEL as LogLevel) ?? "info",
  bound: Record<string, unknown> = {},
  write: (line: string) => void = (l) => process.stderr.write(l + "\n"),
): Logger {
  const emit = (lvl: Exclude<LogLevel, "silent">, fields: Record<string, unknown>, msg: string) => {
    if (ORDER[lvl] < ORDER[level]) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...bound, ...fields }));
  };
  return {
    info: (f, m) => emit("info", f, m),
    warn: (f, m) => emit("warn", f, m),
    error: (f, m) => emit("error", f, m),
    child: (f) => createLogger(level, { ...bound, ...f }, write),
  };
}
