/**
 * Sync calls waiting for a free runner slot, per app. The runner manager wakes
 * an app's waiters whenever capacity may have appeared (a runner became
 * ready, a lease was released, a runner stopped or died); each woken call
 * looks again. The count of waiters is demand the autoscaler's sync-call
 * decision weighs (autoscaler.shouldStartForSyncCall).
 */

/** How often a waiter looks again without a wake-up: covers runners that died without one. */
const RECHECK_MS = 1000;

interface Waiter {
  readonly appId: string;
  resolve(): void;
}

export class CapacityWaiters {
  private waiters: Waiter[] = [];

  /** Sync calls of the app waiting now. */
  count(appId: string): number {
    return this.waiters.filter((w) => w.appId === appId).length;
  }

  /**
   * Resolves at the app's next wake-up or after RECHECK_MS, whichever comes
   * first; rejects with the signal's reason when it aborts first.
   */
  wait(appId: string, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(t);
        if (this.remove(w)) reject(signal!.reason ?? new Error("aborted"));
      };
      // Every way out removes the abort listener, so long waits do not pile them up.
      const done = () => {
        clearTimeout(t);
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const w: Waiter = { appId, resolve: done };
      this.waiters.push(w);
      const t = setTimeout(() => this.remove(w) && done(), RECHECK_MS);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Wakes every waiter of the app. */
  wake(appId: string): void {
    // Every released lease wakes its app; nearly always nobody waits.
    if (this.waiters.length === 0) return;
    const mine = this.waiters.filter((w) => w.appId === appId);
    this.waiters = this.waiters.filter((w) => w.appId !== appId);
    for (const w of mine) w.resolve();
  }

  private remove(w: Waiter): boolean {
    const i = this.waiters.indexOf(w);
    if (i < 0) return false;
    this.waiters.splice(i, 1);
    return true;
  }
}
