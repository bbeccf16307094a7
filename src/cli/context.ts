/**
 * What every falctl command shares: the exit codes, the platform client built
 * from the global options, the common options and usage errors.
 */
import { Option } from "commander";
import { PlatformClient } from "../client/client";

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

/** Bad usage or input: falctl exits with EXIT.usage and the message, without help text. */
export class UsageError extends Error {}

/** The global options' view a command needs, read when it runs (after parsing). */
export interface Cli {
  /** A client for the platform named by --url and --key. */
  client(): PlatformClient;
  /** The platform URL (--url), without trailing slashes. */
  url(): string;
}

export const envOption = () => new Option("--env <env>", "environment").default("main");
export const jsonOption = () => new Option("--json", "print JSON for scripts");

/** Parses a whole number >= 0 given to an option; anything else is a usage error quoting it. */
export function toInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`expected a whole number >= 0, got '${v}'`);
  return n;
}
