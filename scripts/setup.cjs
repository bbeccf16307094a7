#!/usr/bin/env node
/**
 * Makes a fresh clone ready: npm dependencies, the Pulumi engine (built from
 * the Go module proxy when missing, cached outside the clone by version), a
 * check for Python, and PostgreSQL's server binaries for the tests' postgres
 * variants (installed from Debian's packages when running as root).
 * Idempotent and quick when everything is there.
 *
 *   node scripts/setup.cjs                 everything
 *   node scripts/setup.cjs --engine-only   only the engine
 */
"use strict";
const { spawnSync, execFileSync } = require("node:child_process");
const { createHash } = require("node:crypto");
const { existsSync, mkdirSync, copyFileSync, chmodSync, readFileSync, writeFileSync, readdirSync } = require("node:fs");
const { homedir } = require("node:os");
const { join } = require("node:path");
const { ROOT, PULUMI_VERSION, CACHE_DIR, findEngineDir, pulumiVersion } = require("./engine.cjs");
const logged = require("./logged.cjs");

const say = (msg) => process.stdout.write(`[setup] ${msg}\n`);
const fail = (msg) => {
  process.stderr.write(`[setup] FAILED: ${msg}\n`);
  process.exit(1);
};

const { LOG_DIR, seconds, goProgress } = logged;

/**
 * Runs one step through the build scripts' shared runner (scripts/logged.cjs):
 * its whole output in a log file of its own (`opts.logName`, else the
 * command's name), a progress line on the terminal; resolves `{ ok, elapsed,
 * logPath }` whether it failed or not.
 */
function runLogged(title, cmd, args, opts = {}) {
  return logged.runLogged("[setup]", title, cmd, args, { ...stepOptions(cmd, opts), allowFailure: true });
}

const stepOptions = (cmd, opts) => ({ ...opts, logName: opts.logName || cmd, cwd: opts.cwd || ROOT, env: opts.env || process.env });

/** runLogged, and on failure the cause and the log's last lines on the terminal, and exit 1. */
async function runStep(title, cmd, args, opts = {}) {
  try {
    return await logged.runLogged("[setup]", title, cmd, args, stepOptions(cmd, opts));
  } catch (err) {
    process.stderr.write(`[setup] ${err.message}\n`);
    fail(`${cmd} ${args.join(" ")}`);
  }
}

async function npmDependencies() {
  const pkg = join(ROOT, "node_modules", "@pulumi", "pulumi", "package.json");
  const lockStamp = join(ROOT, "node_modules", ".package-lock.json");
  const fresh =
    existsSync(pkg) &&
    JSON.parse(readFileSync(pkg, "utf8")).version === PULUMI_VERSION &&
    existsSync(lockStamp) &&
    existsSync(join(ROOT, "node_modules", "vitest"));
  if (fresh) return;
  say(`Node.js ${process.version}: supported (20 or newer). Some dependencies declare node >= 22; they run on 20, and npm's EBADENGINE warnings about that are expected (kept in the log, not shown).`);
  say("installing npm dependencies (npm ci)...");
  const quiet = ["--no-audit", "--no-fund", "--loglevel=error"];
  const packages = (line) => (/added (\d+) packages/.exec(line) || [])[0];
  const ci = await runLogged("npm ci", "npm", ["ci", ...quiet], { logName: "npm-ci", progress: packages });
  if (ci.ok) return say(`npm dependencies installed (${ci.elapsed})`);
  // npm ci refuses a lock file that lacks optional packages (rollup's other-platform
  // builds) the registry here does not have; npm install accepts it and, with
  // --no-save, leaves package-lock.json as it is.
  say(`npm ci refused: ${npmRefusal(readFileSync(ci.logPath, "utf8").split("\n"))} (full output: ${ci.logPath})`);
  say("falling back to npm install --no-save (package-lock.json is not changed)...");
  const inst = await runStep("npm install", "npm", ["install", "--no-save", ...quiet], { logName: "npm-install", progress: packages });
  say(`npm dependencies installed (${inst.elapsed})`);
}

/** npm's reason for refusing `npm ci`, in one line, from its output. */
function npmRefusal(lines) {
  const text = lines.join("\n");
  if (/in sync|lock file/i.test(text)) {
    const missing = (text.match(/Missing: (\S+)/g) || []).length;
    return `package-lock.json does not match package.json${missing ? ` (${missing} package(s) missing from the lock, e.g. optional builds for other platforms)` : ""}`;
  }
  const first = lines.find((l) => /npm (error|ERR!)\s+\S/.test(l) && !/A complete log|code E/.test(l));
  return first ? first.replace(/^npm (error|ERR!)\s*/, "") : "see the log";
}

/** Hash of our language host's sources: a change rebuilds it (seconds), not the engine. */
function languageHostStamp() {
  const h = createHash("sha256");
  const dir = join(ROOT, "tools", "pulumi");
  for (const f of ["go.mod", "go.sum"]) h.update(readFileSync(join(dir, f)));
  const src = join(dir, "cmd", "pulumi-language-nodejs");
  for (const f of readdirSync(src).sort()) h.update(f).update(readFileSync(join(src, f)));
  return h.digest("hex");
}

/** `go build -v`, with modules downloaded and packages compiled as its progress. */
function goBuild(title, pkg, out, logName) {
  const ldflags = `-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${PULUMI_VERSION}`;
  return runStep(title, "go", ["build", "-v", "-trimpath", "-ldflags", ldflags, "-o", out, pkg], {
    cwd: join(ROOT, "tools", "pulumi"),
    env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: `${process.env.GOFLAGS || ""} -mod=readonly`.trim() },
    logName,
    progress: goProgress(),
  });
}

async function engine() {
  const stampFile = join(CACHE_DIR, ".language-host.sha256");
  const stamp = languageHostStamp();
  const found = findEngineDir();
  if (found && (found !== CACHE_DIR || (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp))) {
    return found;
  }
  try {
    execFileSync("go", ["version"], { stdio: "ignore" });
  } catch {
    fail("Go is needed to build the Pulumi engine (no registry ships its binary); install Go 1.26 or put pulumi v" + PULUMI_VERSION + " on PATH");
  }
  mkdirSync(CACHE_DIR, { recursive: true });
  const pulumiBin = join(CACHE_DIR, "pulumi");
  if (pulumiVersion(pulumiBin) !== `v${PULUMI_VERSION}`) {
    say(`building the Pulumi engine v${PULUMI_VERSION} from Go modules into ${CACHE_DIR}`);
    say(`first build on a machine: downloads modules and compiles (about 5 to 15 minutes on 2 cores; about 400 packages); later runs reuse it. Full output: ${join(LOG_DIR, "engine-build.log")}`);
    const r = await goBuild("building the engine", "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi", pulumiBin, "engine-build");
    say(`engine built (${r.elapsed})`);
  }
  say("building the Node.js language host (tools/pulumi/cmd/pulumi-language-nodejs)...");
  const host = await goBuild("building the language host", "./cmd/pulumi-language-nodejs", join(CACHE_DIR, "pulumi-language-nodejs"), "language-host-build");
  say(`language host built (${host.elapsed})`);
  // The dynamic-provider plugin is a script shipped in the @pulumi/pulumi npm package.
  const dyn = join(CACHE_DIR, "pulumi-resource-pulumi-nodejs");
  copyFileSync(join(ROOT, "node_modules", "@pulumi", "pulumi", "pulumi-resource-pulumi-nodejs"), dyn);
  chmodSync(dyn, 0o755);
  writeFileSync(stampFile, stamp);
  const dir = findEngineDir();
  if (!dir) fail(`the engine in ${CACHE_DIR} does not report v${PULUMI_VERSION}`);
  return dir;
}

function python() {
  try {
    const v = execFileSync(process.env.FALPLANE_PYTHON || "python3", ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], {
      encoding: "utf8",
    }).trim();
    const [maj, min] = v.split(".").map(Number);
    if (maj < 3 || (maj === 3 && min < 10)) fail(`Python ${v} found; the runner SDK needs 3.10 or newer`);
  } catch {
    fail("python3 is needed to run apps (set FALPLANE_PYTHON to choose an interpreter)");
  }
}

/**
 * uv builds apps' Python environments (src/platform/builds). It comes from
 * PyPI as a package, installed into its own virtual environment in the cache,
 * at the version tools/uv.json pins. Without it the platform falls back to
 * python -m venv + pip, and says so.
 */
function uv() {
  const { version } = JSON.parse(readFileSync(join(ROOT, "tools", "uv.json"), "utf8"));
  const home = join(require("node:os").homedir(), ".cache", "falplane", `uv-${version}`);
  const bin = join(home, "bin", "uv");
  if (existsSync(bin)) return;
  const py = process.env.FALPLANE_PYTHON || "python3";
  say(`installing uv ${version} from PyPI into ${home} (builds apps' Python environments)...`);
  const venv = spawnSync(py, ["-m", "venv", home], { stdio: "inherit" });
  const pip = venv.status === 0 && spawnSync(join(home, "bin", "python"), ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", `uv==${version}`], { stdio: "inherit" });
  if (!pip || pip.status !== 0 || !existsSync(bin)) {
    say(`  could not install uv (${home}); apps' environments will be built with python -m venv + pip, which is slower`);
  }
}

/**
 * The official Python client, fal-client from PyPI, at the version
 * tools/fal-client.json pins, in its own virtual environment in the cache:
 * test/integration/falPythonClient.test.ts drives the gateway with it.
 */
function falClientPython() {
  const { version } = JSON.parse(readFileSync(join(ROOT, "tools", "fal-client.json"), "utf8"));
  const home = join(homedir(), ".cache", "falplane", `fal-client-${version}`);
  const py = join(home, "bin", "python");
  const installed = () => existsSync(py) && spawnSync(py, ["-c", "import fal_client"], { stdio: "ignore" }).status === 0;
  if (installed()) return;
  say(`installing fal-client ${version} from PyPI into ${home} (the Python client test drives the gateway with it)...`);
  const venv = spawnSync(process.env.FALPLANE_PYTHON || "python3", ["-m", "venv", home], { stdio: "inherit" });
  const pip = venv.status === 0 && spawnSync(py, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", `fal-client==${version}`], { stdio: "inherit" });
  if (!pip || pip.status !== 0 || !installed()) {
    say(`  could not install fal-client (${home}); until then test/integration/falPythonClient.test.ts fails`);
  }
}

/**
 * The tests run every store and API test on PGlite and on PostgreSQL too:
 * test/globalSetup.ts starts a throwaway cluster with Debian's server binaries.
 */
async function postgres() {
  if (process.env.TEST_DATABASE_URL) return; // the tests use that server
  const root = "/usr/lib/postgresql";
  const hasServer = () => existsSync(root) && readdirSync(root).some((v) => existsSync(join(root, v, "bin", "initdb")));
  if (hasServer()) return;
  if (!(await aptInstall("postgresql", "PostgreSQL", "until then the tests' postgres variants fail (or set TEST_DATABASE_URL=postgres://... to a server you run)"))) return;
  if (!hasServer()) fail(`apt-get installed postgresql, but there is no ${root}/*/bin/initdb`);
  say("PostgreSQL installed");
}

/**
 * bubblewrap (bwrap) sandboxes runners (src/platform/runners/sandbox.ts);
 * without it the platform runs them unsandboxed and says so, and the
 * isolation tests fail.
 */
async function bubblewrap() {
  const works = () => spawnSync("bwrap", ["--version"], { stdio: "ignore" }).status === 0;
  if (works()) return;
  if (!(await aptInstall("bubblewrap", "bubblewrap (the runner sandbox)", "until then runners run unsandboxed and the isolation tests fail"))) return;
  if (!works()) fail("apt-get installed bubblewrap, but bwrap does not run");
  say("bubblewrap installed");
}

/**
 * Chromium (Debian's package) is the headless browser the dashboard test
 * (test/dashboard/dashboard.test.ts) drives through playwright-core; without
 * it that test fails and says how to get it.
 */
async function chromium() {
  if (existsSync("/usr/bin/chromium")) return;
  if (!(await aptInstall("chromium", "Chromium (the headless browser of the dashboard test)", "until then the dashboard test fails"))) return;
  if (!existsSync("/usr/bin/chromium")) fail("apt-get installed chromium, but there is no /usr/bin/chromium");
  say("Chromium installed");
}

/** Installs a Debian package when this is root on a machine with apt-get; says what to do otherwise. */
async function aptInstall(pkg, what, otherwise) {
  say(`installing ${what} (apt-get install ${pkg})...`);
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  let hasApt = true;
  try {
    execFileSync("apt-get", ["--version"], { stdio: "ignore" });
  } catch {
    hasApt = false;
  }
  if (!isRoot || !hasApt) {
    say(`  not ${!hasApt ? "on a machine with apt-get" : "running as root"}, so not installing it: run \`sudo apt-get install -y ${pkg}\`; ${otherwise}`);
    return false;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!aptUpdated) await runStep("apt-get update", "apt-get", ["update"], { env, logName: "apt-get-update" });
  aptUpdated = true;
  await runStep(`apt-get install ${pkg}`, "apt-get", ["install", "-y", "--no-install-recommends", pkg], { env, logName: `apt-get-${pkg}` });
  return true;
}
let aptUpdated = false;

/**
 * BuildKit, buildx, an image registry and the docker-build provider plugin,
 * built from Go modules into ~/.cache/falplane (scripts/image-tools.cjs):
 * image apps are built and pushed with them (docs/images.md), and
 * test/integration/imageApp.test.ts runs them. BuildKit's OCI worker needs
 * runc (Debian's package) even for builds without RUN steps.
 */
async function imageTools() {
  const runc = () => spawnSync("runc", ["--version"], { stdio: "ignore" }).status === 0;
  if (!runc() && (await aptInstall("runc", "runc (BuildKit's OCI worker runs build steps with it)", "until then BuildKit does not start and the image app test fails"))) {
    if (!runc()) fail("apt-get installed runc, but runc does not run");
    say("runc installed");
  }
  const { buildImageTools } = require("./image-tools.cjs");
  try {
    await buildImageTools();
  } catch (err) {
    fail(err && err.message ? err.message : String(err));
  }
}

/**
 * pulumi-resource-kubernetes v4.32.0, the provider plugin of the Platform
 * component (components/Platform.ts), built from its source in
 * tools/pulumi-kubernetes into ~/.cache/falplane (scripts/pulumi-kubernetes.cjs):
 * test/kubernetes/platformComponent.test.ts runs it.
 */
async function pulumiKubernetes() {
  const { buildPulumiKubernetes } = require("./pulumi-kubernetes.cjs");
  try {
    await buildPulumiKubernetes();
  } catch (err) {
    fail(err && err.message ? err.message : String(err));
  }
}

/**
 * The Kubernetes control plane (etcd, kube-apiserver, kube-scheduler,
 * kube-controller-manager) and kwok that the Kubernetes backend's tests
 * (test/kubernetes/) run against: built once from Go modules by
 * scripts/k8s.cjs into ~/.cache/falplane/k8s-<version>/bin.
 */
async function kubernetesControlPlane() {
  const k8s = require("./k8s.cjs");
  if (k8s.k8sMissing().length === 0) return;
  try {
    await k8s.buildK8s();
  } catch (err) {
    fail(err && err.message ? err.message : String(err));
  }
}

async function main() {
  const engineOnly = process.argv.includes("--engine-only");
  const started = Date.now();
  if (!engineOnly) await npmDependencies();
  const dir = await engine();
  if (!engineOnly) python();
  if (!engineOnly) uv();
  if (!engineOnly) falClientPython();
  if (!engineOnly) await postgres();
  if (!engineOnly) await bubblewrap();
  if (!engineOnly) await chromium();
  if (!engineOnly) await imageTools();
  if (!engineOnly) await pulumiKubernetes();
  if (!engineOnly) await kubernetesControlPlane();
  say(`ready: engine v${PULUMI_VERSION} in ${dir} (${seconds(started)})`);
}

main().catch((err) => fail(err && err.stack ? err.stack : String(err)));
