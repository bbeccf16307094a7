/**
 * Where a runner's Python lives on disk: the interpreter to execute and the
 * directories it reads (a virtual environment and the install it was made
 * from). The sandbox mounts exactly these, read-only. Asked of the
 * interpreter itself, so a pyenv shim or a `python3` on PATH resolves to the
 * real install.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { appProcessEnv } from "../childEnv";

export interface PythonInstall {
  /** Absolute path to run: the environment's own `bin/python` for a virtual environment. */
  readonly executable: string;
  /** sys.prefix and sys.base_prefix (the same directory outside a virtual environment). */
  readonly dirs: readonly string[];
}

const run = promisify(execFile);
const known = new Map<string, Promise<PythonInstall>>();

const PROBE = "import sys, json; print(json.dumps([sys.executable, sys.prefix, sys.base_prefix]))";

export function pythonInstall(python: string): Promise<PythonInstall> {
  let found = known.get(python);
  if (!found) {
    found = run(python, ["-c", PROBE], { env: appProcessEnv(), timeout: 30_000 }).then(({ stdout }) => {
      const [executable, prefix, basePrefix] = JSON.parse(stdout) as string[];
      return { executable, dirs: [...new Set([prefix, basePrefix])] };
    });
    // A failed probe is not remembered: the next runner asks again.
    found.catch(() => known.delete(python));
    known.set(python, found);
  }
  return found;
}
