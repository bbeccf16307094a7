/**
 * The one way the build scripts (setup.cjs, k8s.cjs, image-tools.cjs,
 * pulumi-kubernetes.cjs) run a long command: its whole output in
 * ~/.cache/falplane/logs/<logName>.log, a progress line on the terminal (in
 * place on a terminal, every 30 s otherwise), and on failure the last lines
 * of the log in the error. Plain CommonJS with no dependencies.
 */
"use strict";
const { spawn } = require("node:child_process");
const { createWriteStream, mkdirSync } = require("node:fs");
const { homedir } = require("node:os");
const { join } = require("node:path");

const LOG_DIR = join(homedir(), ".cache", "falplane", "logs");
const seconds = (since) => `${Math.round((Date.now() - since) / 1000)} s`;

/**
 * Runs `cmd args` and resolves with `{ ok, elapsed, logPath }`; rejects with
 * the log's last lines when it fails, unless `opts.allowFailure`.
 * `prefix` names the script in progress lines (`[k8s]`); `opts.progress`
 * reads each output line and returns the progress text.
 */
function runLogged(prefix, title, cmd, args, opts) {
  mkdirSync(LOG_DIR, { recursive: true });
  const logPath = join(LOG_DIR, `${opts.logName}.log`);
  const log = createWriteStream(logPath);
  const started = Date.now();
  const tail = [];
  let status = "";
  const tty = process.stdout.isTTY;
  const show = () => {
    const line = `${prefix}   ${title}: ${status ? status + ", " : ""}${seconds(started)}`;
    if (tty) process.stdout.write(`\r${line.slice(0, (process.stdout.columns || 100) - 1)}\x1b[K`);
    else process.stdout.write(line + "\n");
  };
  const ticker = setInterval(show, tty ? 1000 : 30_000);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    let pending = "";
    const onData = (chunk) => {
      log.write(chunk);
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop();
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        if (opts.progress) status = opts.progress(line) || status;
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const finish = (code, error) => {
      clearInterval(ticker);
      if (tty) process.stdout.write("\r\x1b[K");
      log.end(() => {
        const result = { ok: code === 0, elapsed: seconds(started), logPath };
        if (code === 0 || opts.allowFailure) return resolvePromise(result);
        const why = error ? error.message : `exit code ${code}`;
        const last = tail.filter((l) => l.trim()).slice(-20).map((l) => `    ${l}`).join("\n");
        reject(new Error(`${title} failed (${why}); last lines of ${logPath}:\n${last}`));
      });
    };
    child.on("error", (err) => finish(-1, err));
    child.on("close", (code) => finish(code));
  });
}

/** Progress of `go build -v` / `go install -v`: modules downloaded and packages compiled. */
function goProgress() {
  let downloaded = 0;
  let compiled = 0;
  return (line) => {
    if (line.startsWith("go: downloading")) downloaded++;
    else if (/^[\w.-]+(\/[\w.@+~-]+)*$/.test(line.trim())) compiled++;
    return `${downloaded} modules downloaded, ${compiled} packages compiled`;
  };
}

module.exports = { LOG_DIR, seconds, runLogged, goProgress };
