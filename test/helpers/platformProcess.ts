/**
 * A platform in its own process (falctl platform start), for tests that kill
 * it. Started in its own process group; `kill()` SIGKILLs the group and
 * `cleanup()` also kills runner groups it may have orphaned.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { join, resolve } from "node:path";

const REPO = resolve(__dirname, "../..");

export interface PlatformProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: string[];
  /** Sends the signal to the platform's process group and waits for it to exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** SIGTERM (the platform stops its runners), SIGKILL after 20 s. */
  stop(): Promise<void>;
}

export function startPlatformProcess(opts: { dataDir: string; key: string; env?: Record<string, string>; args?: string[] }): Promise<PlatformProcess> {
  const child = spawn(process.execPath, [join(REPO, "bin", "falctl.cjs"), "platform", "start", "--data-dir", opts.dataDir, "--port", "0", ...(opts.args ?? [])], {
    env: { ...process.env, FALPLANE_BOOTSTRAP_KEY: opts.key, FALPLANE_LOG_LEVEL: "warn", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const output: string[] = [];
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // gone
    }
  };
  child.stderr!.on("data", (d: Buffer) => output.push(d.toString()));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      killGroup("SIGKILL");
      reject(new Error(`platform did not start in 60 s:\n${output.join("")}`));
    }, 60_000);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output.push(line);
      const m = /listening on (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolvePromise({
          url: m[1],
          child,
          output,
          kill: (signal) =>
            new Promise((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              child.once("exit", () => done());
              killGroup(signal);
            }),
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              const t = setTimeout(() => killGroup("SIGKILL"), 20_000);
              child.once("exit", () => {
                clearTimeout(t);
                done();
              });
              killGroup("SIGTERM");
            }),
        });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`platform exited with ${code} before listening:\n${output.join("")}`));
    });
  });
}
