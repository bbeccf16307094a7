/**
 * What builds an app's Python environment on this host: the interpreter for
 * a requested Python version, its platform and ABI (part of the build key),
 * and the installer: `uv` when there is one, else `python -m venv` + pip.
 *
 * uv comes from PyPI through the project's set-up (scripts/setup.cjs puts it
 * in ~/.cache/falplane/uv-<version>/bin); FALPLANE_UV or the platform's `uv`
 * option name another one.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import uvPin from "../../../tools/uv.json";

const run = promisify(execFile);

/** The uv version the set-up installs (tools/uv.json, read by scripts/setup.cjs too). */
export const UV_VERSION: string = uvPin.version;

/** Where the set-up installs uv. */
export function bundledUvPath(): string {
  return join(homedir(), ".cache", "falplane", `uv-${UV_VERSION}`, "bin", "uv");
}

export interface PythonTarget {
  /** Absolute path of the base interpreter. */
  readonly executable: string;
  /** Full version, e.g. `3.11.7`. */
  readonly version: string;
  /** sysconfig platform, e.g. `linux-x86_64`. */
  readonly platform: string;
  /** Implementation and ABI tag, e.g. `cpython-311`. */
  readonly abi: string;
}

export interface Installer {
  /** `uv 0.9.5` or `pip (python -m venv)`: shown in build logs, part of the build key. */
  readonly name: string;
  /** The uv binary; absent for the pip fallback. */
  readonly uv?: string;
}

const PROBE =
  "import json, sys, sysconfig; print(json.dumps({'executable': sys.executable, 'version': '%d.%d.%d' % sys.version_info[:3], 'platform': sysconfig.get_platform(), 'abi': sys.implementation.cache_tag}))";

/** Asks an interpreter what it is; the resolved executable, not a pyenv shim. */
export async function probePython(python: string): Promise<PythonTarget> {
  const { stdout } = await run(python, ["-c", PROBE], { timeout: 30_000 });
  return JSON.parse(stdout.trim()) as PythonTarget;
}

/** The uv binary to use, or undefined when none is installed. */
export async function findUv(configured?: string): Promise<Installer | undefined> {
  const candidates = [configured, process.env.FALPLANE_UV, bundledUvPath(), "uv"].filter((c): c is string => !!c);
  for (const c of candidates) {
    if (c.includes("/") && !existsSync(c)) continue;
    try {
      const { stdout } = await run(c, ["--version"], { timeout: 10_000 });
      return { name: stdout.trim(), uv: c };
    } catch {
      // Not this one.
    }
  }
  return undefined;
}

/**
 * The interpreter for `wanted` (`3.11`, `3.11.7`; undefined: the platform's
 * own). The platform's own is used when its version matches; otherwise uv's
 * interpreter discovery (never a download), else `python<wanted>` on PATH.
 */
export async function findPython(defaultPython: PythonTarget, wanted: string | undefined, installer: Installer | undefined): Promise<PythonTarget> {
  if (!wanted || versionMatches(defaultPython.version, wanted)) return defaultPython;
  const tries: Array<[string, string[]]> = [];
  if (installer?.uv) tries.push([installer.uv, ["python", "find", "--no-python-downloads", wanted]]);
  tries.push([`python${wanted}`, ["-c", "import sys; print(sys.executable)"]]);
  for (const [cmd, args] of tries) {
    try {
      const { stdout } = await run(cmd, args, { timeout: 30_000, env: { ...process.env, UV_PYTHON_DOWNLOADS: "never" } });
      const target = await probePython(stdout.trim());
      if (versionMatches(target.version, wanted)) return target;
    } catch {
      // Try the next way.
    }
  }
  throw new Error(`no Python ${wanted} interpreter on this platform host (it has ${defaultPython.version}); install it there or drop pythonVersion`);
}

/** `3.11` matches 3.11.x; `3.11.7` matches only itself. */
export function versionMatches(actual: string, wanted: string): boolean {
  return actual === wanted || actual.startsWith(`${wanted}.`);
}
