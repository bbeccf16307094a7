/**
 * Runner isolation. A runner runs code that the platform does not trust with
 * anything but its own app: it must not read the platform's environment
 * (DATABASE_URL), other runners' environments (other environments' secrets,
 * through /proc/<pid>/environ) or the data directory (PGlite's files hold
 * every secret).
 *
 * The sandbox is bubblewrap (`bwrap`, Debian's `bubblewrap` package), chosen
 * over a dedicated unprivileged user per environment because it needs no
 * user management on the host and works the same when the platform itself
 * runs unprivileged (bwrap then uses a user namespace), and because a mount
 * namespace hides the data directory even from a process with the platform's
 * own uid, which a separate user cannot do for files the platform keeps
 * world-readable by accident. Each runner gets:
 *  - its own PID namespace with a fresh /proc: no other process is visible;
 *  - a filesystem of read-only system directories (/usr, a few /etc files),
 *    the read-only Python installs it runs on, the SDK, its own writable
 *    working directory and an empty /tmp; nothing else, so no data directory;
 *  - no capabilities (--cap-drop ALL), its own IPC and UTS namespaces;
 *  - the host network (it serves HTTP on loopback), the GPUs handed to it.
 * Without bwrap the runner still gets its own working directory outside the
 * data directory and its own environment only, but the kernel does not keep
 * it from reading what its uid can read; the platform logs that loudly and
 * `falctl platform info` shows `sandbox: none`.
 */
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readlinkSync } from "node:fs";

export const SANDBOX_MODES = ["auto", "bwrap", "none"] as const;
export type SandboxMode = (typeof SANDBOX_MODES)[number];

/** What one runner may see besides the system directories. */
export interface SandboxMounts {
  /** The runner's own working directory: writable, and its cwd. */
  readonly workDir: string;
  /** Directories it may read (Python installs, the SDK). */
  readonly readOnly: readonly string[];
  /** Directories it may write besides its working directory (operator-chosen shared caches). */
  readonly readWrite: readonly string[];
  /** Whether to pass the host's NVIDIA device nodes (a GPU runner). */
  readonly gpuDevices: boolean;
}

export interface Sandbox {
  readonly kind: "bwrap" | "none";
  /** The command line that runs `file args` inside the sandbox. */
  wrap(file: string, args: readonly string[], mounts: SandboxMounts): { file: string; args: string[] };
}

const NO_SANDBOX: Sandbox = { kind: "none", wrap: (file, args) => ({ file, args: [...args] }) };

/** System files a Python process needs from /etc: name resolution, TLS roots, time zone, the loader cache. */
const ETC_FILES = [
  "/etc/resolv.conf",
  "/etc/hosts",
  "/etc/nsswitch.conf",
  "/etc/host.conf",
  "/etc/gai.conf",
  "/etc/passwd",
  "/etc/group",
  "/etc/localtime",
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d",
  "/etc/ssl",
  "/etc/ca-certificates",
  "/etc/pki",
  "/etc/mime.types",
  "/etc/alternatives",
];

/**
 * The sandbox for `mode`: `auto` takes bwrap when it works here and none
 * otherwise; `bwrap` fails when it does not work; `none` is an explicit
 * operator choice.
 */
export function selectSandbox(mode: SandboxMode, bwrapPath = "bwrap"): Sandbox {
  if (mode === "none") return NO_SANDBOX;
  const problem = probeBwrap(bwrapPath);
  if (problem === undefined) return new BwrapSandbox(bwrapPath);
  if (mode === "bwrap") {
    throw new Error(`sandbox "bwrap" was asked for but ${problem}; install Debian's bubblewrap package, or start with --sandbox none`);
  }
  return NO_SANDBOX;
}

/** Why bwrap cannot run a sandbox here, or undefined when it can. */
export function probeBwrap(bwrapPath = "bwrap"): string | undefined {
  try {
    execFileSync(bwrapPath, ["--ro-bind", "/", "/", "--unshare-pid", "--proc", "/proc", "--dev", "/dev", "--cap-drop", "ALL", "true"], {
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 10_000,
    });
    return undefined;
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer };
    if (e.code === "ENOENT") return `${bwrapPath} is not installed`;
    return `${bwrapPath} cannot create namespaces here (${e.stderr?.toString().trim() || String(err)})`;
  }
}

class BwrapSandbox implements Sandbox {
  readonly kind = "bwrap";
  private readonly system: string[];

  constructor(private readonly bwrap: string) {
    this.system = systemMounts();
  }

  wrap(file: string, args: readonly string[], m: SandboxMounts): { file: string; args: string[] } {
    const out = [
      "--die-with-parent",
      "--unshare-pid",
      "--unshare-ipc",
      "--unshare-uts",
      "--unshare-cgroup-try",
      "--cap-drop",
      "ALL",
      ...this.system,
      "--proc",
      "/proc",
      "--dev",
      "/dev",
      "--tmpfs",
      "/tmp",
    ];
    for (const dir of m.readOnly) out.push("--ro-bind-try", dir, dir);
    for (const dir of m.readWrite) out.push("--bind-try", dir, dir);
    if (m.gpuDevices) for (const dev of nvidiaDevices()) out.push("--dev-bind-try", dev, dev);
    out.push("--bind", m.workDir, m.workDir, "--chdir", m.workDir, "--", file, ...args);
    // bwrap dies of SIGTERM at once, and its sandbox with it, which would cut
    // the app's teardown short. Started with SIGTERM and SIGINT ignored (an
    // ignored signal stays ignored across exec), bwrap outlives them; the
    // runner installs its own handlers, finishes, and bwrap exits with it.
    return { file: "/bin/sh", args: ["-c", 'trap "" TERM INT; exec "$0" "$@"', this.bwrap, ...out] };
  }
}

/** /usr read-only, the merged-/usr links (/bin → usr/bin) as they are on the host, and the /etc files above. */
function systemMounts(): string[] {
  const out = ["--ro-bind", "/usr", "/usr"];
  for (const top of ["/bin", "/lib", "/lib32", "/lib64", "/sbin"]) {
    if (!existsSync(top)) continue;
    if (lstatSync(top).isSymbolicLink()) out.push("--symlink", readlinkSync(top), top);
    else out.push("--ro-bind", top, top);
  }
  for (const f of ETC_FILES) out.push("--ro-bind-try", f, f);
  // CPU and PCI topology for numeric libraries and CUDA; nothing secret lives in /sys.
  out.push("--ro-bind-try", "/sys", "/sys");
  return out;
}

function nvidiaDevices(): string[] {
  try {
    return readdirSync("/dev")
      .filter((d) => d.startsWith("nvidia"))
      .map((d) => `/dev/${d}`);
  } catch {
    return [];
  }
}
