/**
 * A list of waiters woken together: what a backend's capacityChanged() waits
 * on (the local GPU pool, the Kubernetes backend's node and Pod watches).
 */
export class Wakeups {
  private waiters: (() => void)[] = [];

  /** Resolves at the next wakeAll(), after `maxWaitMs`, or when the signal aborts, whichever comes first. */
  wait(maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, maxWaitMs));
      signal?.addEventListener("abort", done, { once: true });
      this.waiters.push(done);
    });
  }

  wakeAll(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }
}
