/**
 * The GPUs of this machine and who holds them. A runner takes its GPUs when
 * it is launched and gives them back the moment its process group is gone;
 * whoever waits for GPUs (a recreate's new runner, a scale-up) is woken then,
 * not on a timer and never through a crash backoff: lack of capacity is not a
 * crash.
 */
import { Wakeups } from "./wakeups";

export class GpuPool {
  /** GPU index → runner holding it. */
  private readonly holders = new Map<string, string>();
  private readonly wakeups = new Wakeups();

  constructor(readonly indices: readonly string[]) {}

  get total(): number {
    return this.indices.length;
  }

  /** GPU indices no runner holds. */
  free(): string[] {
    return this.indices.filter((g) => !this.holders.has(g));
  }

  /** Takes `n` free GPUs for the runner; undefined (nothing taken) when fewer are free. */
  take(runnerId: string, n: number): string[] | undefined {
    const free = this.free();
    if (n > free.length) return undefined;
    const mine = free.slice(0, n);
    for (const g of mine) this.holders.set(g, runnerId);
    return mine;
  }

  /** Gives back what the runner holds and wakes everyone waiting for capacity. */
  release(runnerId: string): void {
    let released = false;
    for (const [g, holder] of this.holders) {
      if (holder === runnerId) {
        this.holders.delete(g);
        released = true;
      }
    }
    if (released) this.wakeups.wakeAll();
  }

  /** Resolves at the next release, after `maxWaitMs`, or when the signal aborts, whichever comes first. */
  changed(maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    return this.wakeups.wait(maxWaitMs, signal);
  }

}
