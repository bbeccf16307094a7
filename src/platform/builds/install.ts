/**
 * Runs one environment build: a virtual environment from the target
 * interpreter, then the app's requirements installed into it. uv does both
 * when it is there; otherwise `python -m venv` and pip. Every line the tools
 * print goes to `onLine` as it comes, for the build log and the deploy's
 * progress.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { Installer, PythonTarget } from "./toolchain";
import { appProcessEnv } from "../childEnv";
import { eachLine } from "../lines";

export interface InstallOptions {
  /** Directory to create the environment in (must not exist). */
  readonly dir: string;
  readonly python: PythonTarget;
  /** Normalised pip requirement strings; may be empty. */
  readonly requirements: readonly string[];
  /** uv, or undefined for the venv + pip fallback. */
  readonly installer: Installer | undefined;
  /** Package index URL (the operator's mirror). Default: the tools' own default (PyPI). */
  readonly indexUrl?: string;
  readonly onLine: (line: string) => void;
}

/** A build step that exited non-zero; `summary` holds the lines that say why. */
export class InstallError extends Error {
  constructor(
    readonly step: string,
    readonly summary: string,
  ) {
    super(`${step} failed:\n${summary}`);
    this.name = "InstallError";
  }
}

export async function installEnvironment(o: InstallOptions): Promise<void> {
  const py = join(o.dir, "bin", "python");
  const index = o.indexUrl ? ["--index-url", o.indexUrl] : [];
  if (o.installer?.uv) {
    await step("uv venv", o.installer.uv, ["venv", "--no-project", "--python", o.python.executable, o.dir], o.onLine);
    if (o.requirements.length) {
      await step("uv pip install", o.installer.uv, ["pip", "install", "--python", py, ...index, ...o.requirements], o.onLine);
    }
    return;
  }
  await step("python -m venv", o.python.executable, ["-m", "venv", ...(o.requirements.length ? [] : ["--without-pip"]), o.dir], o.onLine);
  if (o.requirements.length) {
    await step("pip install", py, ["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off", ...index, ...o.requirements], o.onLine);
  }
}

const SUMMARY_LINES = 25;

/** Runs one tool in its own process group, streaming its lines; rejects with the lines that explain a failure. */
function step(name: string, cmd: string, args: readonly string[], onLine: (line: string) => void): Promise<void> {
  onLine(`$ ${[cmd.split("/").pop(), ...args].join(" ")}`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      // No downloads of interpreters (air-gapped hosts), no colours or progress bars in logs.
      // The platform's secrets stay out: a package's build code runs here.
      env: { ...appProcessEnv(), UV_PYTHON_DOWNLOADS: "never", NO_COLOR: "1", UV_NO_PROGRESS: "1", PIP_NO_COLOR: "1" },
    });
    const lines: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      eachLine(
        stream,
        (raw) => {
          const line = raw.replace(/\r/g, "");
          lines.push(line);
          onLine(line);
        },
        { trailing: true },
      );
    }
    child.on("error", (err) => reject(new InstallError(name, String(err))));
    child.on("close", (code, signal) => {
      if (code === 0) return resolve();
      reject(new InstallError(name, failureSummary(lines) || `${name} exited with ${signal ?? `code ${code}`}`));
    });
  });
}

/**
 * The lines of a failed install that a person needs: uv's report from its
 * first `×`/`error:` line, pip's `ERROR:` lines, else the last lines.
 */
export function failureSummary(lines: readonly string[]): string {
  const start = lines.findIndex((l) => /^\s*(×|error:|ERROR:)/.test(l));
  const picked = start >= 0 ? lines.slice(start) : lines.slice(-SUMMARY_LINES);
  return picked.slice(0, SUMMARY_LINES).join("\n").trim();
}
