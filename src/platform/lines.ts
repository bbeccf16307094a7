/**
 * Splits a child process's output stream into lines as it arrives: runners'
 * output goes to logs and request logs, builds' output to the build log.
 */
import type { Readable } from "node:stream";

export interface LineOptions {
  /** Also report a last line that has no newline when the stream ends. Default false. */
  readonly trailing?: boolean;
}

export function eachLine(stream: Readable, onLine: (line: string) => void, opts: LineOptions = {}): void {
  let buf = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      onLine(line);
    }
  });
  if (opts.trailing) stream.on("end", () => buf && onLine(buf));
}
