/** Sizes (`10mb`, `64MiB`, `1048576`) and durations (`7d`, `12h`, `500ms`) given to CLI options. */
import { UsageError } from "./context";

const SIZES: Record<string, number> = {
  "": 1, b: 1,
  kb: 1024, kib: 1024, k: 1024,
  mb: 1024 ** 2, mib: 1024 ** 2, m: 1024 ** 2,
  gb: 1024 ** 3, gib: 1024 ** 3, g: 1024 ** 3,
  tb: 1024 ** 4, tib: 1024 ** 4, t: 1024 ** 4,
};

/** Bytes; units are binary (`10mb` = 10 × 2^20), as Fastify's and most tools' limits are. */
export function parseSize(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
  const unit = m ? SIZES[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UsageError(`expected a size like 10mb, 512kb or a number of bytes, got '${v}'`);
  const n = Math.floor(Number(m[1]) * unit);
  if (n <= 0) throw new UsageError(`expected a size above 0, got '${v}'`);
  return n;
}

const DURATIONS: Record<string, number> = { ms: 1, s: 1000, "": 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds; a bare number is seconds. */
export function parseDuration(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
  const unit = m ? DURATIONS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UsageError(`expected a duration like 7d, 12h, 30m or 45s, got '${v}'`);
  const n = Math.round(Number(m[1]) * unit);
  if (n <= 0) throw new UsageError(`expected a duration above 0, got '${v}'`);
  return n;
}
