#!/usr/bin/env node
/**
 * The Kubernetes control plane the Kubernetes backend's tests run against:
 * kube-apiserver, kube-scheduler, kube-controller-manager and etcd built from
 * Go modules (k8s.io/kubernetes v1.36.1, staging modules v0.36.1, etcd
 * v3.6.8), and kwok v0.8.0 (fake nodes with nvidia.com/gpu capacity).
 * Built once per machine into ~/.cache/falplane/k8s-v1.36.1/bin (override
 * with FALPLANE_K8S_CACHE); full output in ~/.cache/falplane/logs/k8s-*.log.
 * Plain CommonJS with no dependencies, like engine.cjs.
 *
 *   node scripts/k8s.cjs           builds what is missing (about 10 minutes on 2 cores the first time)
 *   node scripts/k8s.cjs --check   exit 0 when everything is built, 1 otherwise
 *
 * require("./k8s.cjs") gives K8S_BIN_DIR, K8S_BINARIES, k8sMissing() and buildK8s().
 */
"use strict";
const logged = require("./logged.cjs");
const { existsSync, mkdirSync, writeFileSync, renameSync, rmSync } = require("node:fs");
const { homedir } = require("node:os");
const { join } = require("node:path");

const K8S_VERSION = "v1.36.1";
const STAGING_VERSION = "v0.36.1";
const ETCD_VERSION = "v3.6.8";
const KWOK_VERSION = "v0.8.0";
const K8S_HOME = process.env.FALPLANE_K8S_CACHE || join(homedir(), ".cache", "falplane", `k8s-${K8S_VERSION}`);
const K8S_BIN_DIR = join(K8S_HOME, "bin");
const { LOG_DIR } = logged;
const CONTROL_PLANE = ["kube-apiserver", "kube-scheduler", "kube-controller-manager", "etcd"];
const K8S_BINARIES = [...CONTROL_PLANE, "kwok"];

/** The staging modules k8s.io/kubernetes replaces with local paths; the proxy has them at STAGING_VERSION. */
const STAGING = (
  "api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap " +
  "code-generator component-base component-helpers controller-manager cri-api cri-client cri-streaming " +
  "csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator " +
  "kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission " +
  "sample-apiserver sample-cli-plugin sample-controller streaming"
).split(" ");

const say = (msg) => process.stdout.write(`[k8s] ${msg}\n`);
const { seconds } = logged;

/** The binaries not built yet. */
function k8sMissing() {
  return K8S_BINARIES.filter((b) => !existsSync(join(K8S_BIN_DIR, b)));
}

function goMod() {
  const lines = [
    "module local/k8sbins",
    "",
    "go 1.26.0",
    "",
    "require (",
    `\tk8s.io/kubernetes ${K8S_VERSION}`,
    `\tgo.etcd.io/etcd/server/v3 ${ETCD_VERSION}`,
    ")",
    "",
    // `go mod tidy` keeps what the tool directive names (and drops k8s.io/kubernetes without it).
    "tool (",
    "\tk8s.io/kubernetes/cmd/kube-apiserver",
    "\tk8s.io/kubernetes/cmd/kube-scheduler",
    "\tk8s.io/kubernetes/cmd/kube-controller-manager",
    "\tlocal/k8sbins/cmd/etcd",
    ")",
    "",
    "replace (",
    ...STAGING.map((m) => `\tk8s.io/${m} => k8s.io/${m} ${STAGING_VERSION}`),
    ")",
    "",
  ];
  return lines.join("\n");
}

const ETCD_MAIN = `package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
`;

/** The shared long-command runner (scripts/logged.cjs) with this script's prefix. */
const runLogged = (title, cmd, args, opts) => logged.runLogged("[k8s]", title, cmd, args, opts);
const { goProgress } = logged;

/** Builds whatever is missing into K8S_BIN_DIR. Resolves when all of K8S_BINARIES are there. */
async function buildK8s() {
  const missing = k8sMissing();
  if (missing.length === 0) return K8S_BIN_DIR;
  try {
    require("node:child_process").execFileSync("go", ["version"], { stdio: "ignore" });
  } catch {
    throw new Error("Go is needed to build the Kubernetes control plane for the tests (no registry ships its binaries); install Go 1.26");
  }
  mkdirSync(K8S_BIN_DIR, { recursive: true });
  const env = { ...process.env, CGO_ENABLED: "0" };
  const started = Date.now();
  if (missing.some((b) => CONTROL_PLANE.includes(b))) {
    const src = join(K8S_HOME, "src");
    mkdirSync(join(src, "cmd", "etcd"), { recursive: true });
    writeFileSync(join(src, "go.mod"), goMod());
    writeFileSync(join(src, "cmd", "etcd", "main.go"), ETCD_MAIN);
    say(`building kube-apiserver, kube-scheduler, kube-controller-manager ${K8S_VERSION} and etcd ${ETCD_VERSION} from Go modules into ${K8S_BIN_DIR}`);
    say(`first build on a machine: downloads modules and compiles (about 8 to 12 minutes and 2 GB of memory on 2 cores); later runs reuse it. Full output: ${join(LOG_DIR, "k8s-build.log")}`);
    await runLogged("resolving modules (go mod tidy)", "go", ["mod", "tidy"], {
      cwd: src,
      env: { ...env, GOFLAGS: "-mod=mod" },
      logName: "k8s-mod-tidy",
      progress: goProgress(),
    });
    const v = K8S_VERSION;
    const ld = [
      "-s -w",
      `-X k8s.io/component-base/version.gitVersion=${v}`,
      `-X k8s.io/component-base/version.gitMajor=1`,
      `-X k8s.io/component-base/version.gitMinor=${v.split(".")[1]}`,
      `-X k8s.io/component-base/version.gitTreeState=clean`,
      `-X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z`,
    ].join(" ");
    // Built into a staging folder and moved into place, so an interrupted build never leaves half a set.
    const out = join(K8S_HOME, "bin.partial");
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const r = await runLogged("building the control plane", "go", [
      "build", "-v", "-trimpath", "-ldflags", ld, "-o", out + "/",
      "k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-scheduler",
      "k8s.io/kubernetes/cmd/kube-controller-manager", "./cmd/etcd",
    ], { cwd: src, env, logName: "k8s-build", progress: goProgress() });
    for (const b of CONTROL_PLANE) renameSync(join(out, b), join(K8S_BIN_DIR, b));
    rmSync(out, { recursive: true, force: true });
    say(`control plane built (${r.elapsed})`);
  }
  if (!existsSync(join(K8S_BIN_DIR, "kwok"))) {
    say(`building kwok ${KWOK_VERSION} (fake GPU nodes) into ${K8S_BIN_DIR} (about 2 minutes). Full output: ${join(LOG_DIR, "k8s-kwok-build.log")}`);
    const r = await runLogged("building kwok", "go", ["install", "-v", "-trimpath", "-ldflags", "-s -w", `sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}`], {
      cwd: K8S_HOME,
      env: { ...env, GOBIN: K8S_BIN_DIR, GOFLAGS: "" },
      logName: "k8s-kwok-build",
      progress: goProgress(),
    });
    say(`kwok built (${r.elapsed})`);
  }
  const still = k8sMissing();
  if (still.length) throw new Error(`after the build, ${still.join(", ")} still missing from ${K8S_BIN_DIR}`);
  say(`Kubernetes control plane ready in ${K8S_BIN_DIR} (${seconds(started)})`);
  return K8S_BIN_DIR;
}

module.exports = { K8S_VERSION, ETCD_VERSION, KWOK_VERSION, K8S_HOME, K8S_BIN_DIR, K8S_BINARIES, k8sMissing, buildK8s };

if (require.main === module) {
  if (process.argv.includes("--check")) process.exit(k8sMissing().length ? 1 : 0);
  buildK8s().then(
    (dir) => {
      if (!process.argv.includes("--quiet")) say(`ready: ${dir}`);
    },
    (err) => {
      process.stderr.write(`[k8s] FAILED: ${err && err.message ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
