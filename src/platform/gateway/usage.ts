/**
 * Records who called which app (semantics: usage of a shared app is recorded
 * against the caller). Counted in memory on the hot path and flushed to the
 * usage table every second, so a call pays no database write.
 */
import type { Db } from "../store/db";
import * as repo from "../store/repo";
import type { Logger } from "../log";

export class UsageRecorder {
  private pending = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    flushMs = 1000,
  ) {
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  record(appId: string, caller: string): void {
    const k = `${appId}\0${caller}`;
    this.pending.set(k, (this.pending.get(k) ?? 0) + 1);
  }

  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    for (const [k, n] of batch) {
      const [appId, caller] = k.split("\0");
      await repo.addUsage(this.db, appId, caller, n).catch((e) => this.log.warn({ err: String(e) }, "could not record usage"));
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
