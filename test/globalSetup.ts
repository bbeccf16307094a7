/**
 * Runs once per `vitest run`, before any worker starts: finds a PostgreSQL
 * server for the tests' postgres variants and hands its URL to the workers
 * (`inject("falplanePostgres")`, see test/helpers/testPlatform.ts).
 *
 * - TEST_DATABASE_URL set: that server is used as it is.
 * - else, Debian's server binaries installed (/usr/lib/postgresql/<v>/bin):
 *   a throwaway cluster in a temp directory on a free 127.0.0.1 port, stopped
 *   and deleted in teardown (and from an exit hook if the run dies first).
 * - else: the workers get an error that says how to install PostgreSQL, and
 *   every postgres variant fails with it. Nothing is skipped.
 */
import type { TestProject } from "vitest/node";
import { POSTGRES_INSTALL_HINT, findPostgresBin, reapStaleClusters, startPostgresCluster } from "./helpers/postgres";

const say = (msg: string) => process.stderr.write(`[test setup] ${msg}\n`);

export default async function setup(project: TestProject): Promise<(() => void) | undefined> {
  const fromEnv = process.env.TEST_DATABASE_URL;
  if (fromEnv) {
    project.provide("falplanePostgres", { url: fromEnv, source: "TEST_DATABASE_URL" });
    return undefined;
  }

  const bin = findPostgresBin();
  if (!bin) {
    project.provide("falplanePostgres", {
      error: `PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb). ${POSTGRES_INSTALL_HINT}`,
    });
    return undefined;
  }

  const reaped = reapStaleClusters(bin);
  if (reaped) say(`removed ${reaped} PostgreSQL test cluster(s) left by an earlier run that was killed`);

  let cluster;
  try {
    cluster = await startPostgresCluster(bin);
  } catch (err) {
    project.provide("falplanePostgres", { error: `${(err as Error).message}\n${POSTGRES_INSTALL_HINT}` });
    return undefined;
  }
  say(`PostgreSQL test cluster on 127.0.0.1:${cluster.port} (${cluster.dir})`);
  project.provide("falplanePostgres", { url: cluster.url, source: "throwaway cluster" });

  // Backstops for a run that ends without teardown: normal exit and termination signals.
  const c = cluster;
  const onExit = () => c.stop();
  const onSignal = (signal: NodeJS.Signals) => {
    c.stop();
    process.off("exit", onExit);
    // Let the signal do what it would have done without us.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  // Prepended: vitest's own handlers call process.exit(), after which later listeners never run.
  process.prependOnceListener("exit", onExit);
  for (const s of signals) process.prependOnceListener(s, onSignal);

  return () => {
    process.off("exit", onExit);
    for (const s of signals) process.off(s, onSignal);
    c.stop();
  };
}
