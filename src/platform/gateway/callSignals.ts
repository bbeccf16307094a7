/**
 * What can end a gateway call early: its deadline (request_timeout from its
 * arrival) and the caller hanging up. Both are AbortSignals to whatever waits
 * on them (a wait for a runner, a streamed answer), but a signal is made only
 * when something asks for it: making an AbortSignal costs about 6 µs in
 * Node 20 (several per call were a tenth of the gateway's CPU per call,
 * docs/performance.md, "Deadline signals"), and the common call, a runner
 * free at once and a plain answer, never waits on one. That call registers a
 * callback instead (`onAbort`), which costs an array push.
 */
import type { ServerResponse } from "node:http";

/** A one-shot abort with a reason, and its AbortSignal made on first use. */
class LazyAbort {
  private reason: unknown;
  private fired = false;
  private controller?: AbortController;
  private callbacks?: ((reason: unknown) => void)[];

  get aborted(): boolean {
    return this.fired;
  }

  /** An AbortSignal that aborts with the same reason (already aborted if it has fired). */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.fired) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** Calls `fn` once when this fires; at once (synchronously) when it already has. */
  onAbort(fn: (reason: unknown) => void): void {
    if (this.fired) return fn(this.reason);
    (this.callbacks ??= []).push(fn);
  }

  fire(reason: unknown): void {
    if (this.fired) return;
    this.fired = true;
    this.reason = reason;
    this.controller?.abort(reason);
    const callbacks = this.callbacks;
    this.callbacks = undefined;
    for (const fn of callbacks ?? []) fn(reason);
  }
}

/** The caller's connection closing before its answer was sent. */
export class CallerGone {
  private readonly abort = new LazyAbort();

  constructor(res: ServerResponse) {
    // `on`, not `once` (a wrapper per call): a response closes once.
    res.on("close", () => {
      if (!res.writableFinished) this.abort.fire(new Error("the caller closed the connection"));
    });
  }

  get aborted(): boolean {
    return this.abort.aborted;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  onAbort(fn: (reason: unknown) => void): void {
    this.abort.onAbort(fn);
  }
}

/**
 * A call's request_timeout, on one timer from its arrival that clear() stops
 * when the call ends (a finished call leaves no timer behind): `deadline`
 * aborts with a TimeoutError, as AbortSignal.timeout does; `signal` aborts
 * on the deadline or when the caller hangs up, whichever comes first.
 */
export class CallDeadline {
  private readonly timer: NodeJS.Timeout;
  private readonly expiry = new LazyAbort();
  private either?: LazyAbort;

  constructor(
    ms: number,
    private readonly gone?: CallerGone,
  ) {
    this.timer = setTimeout(() => this.expiry.fire(new DOMException("The operation was aborted due to timeout", "TimeoutError")), ms);
    this.timer.unref();
  }

  /** Whether request_timeout has passed. */
  get expired(): boolean {
    return this.expiry.aborted;
  }

  /** Aborts when request_timeout passes. */
  get deadline(): AbortSignal {
    return this.expiry.signal;
  }

  /** Aborts when request_timeout passes or the caller hangs up. */
  get signal(): AbortSignal {
    return this.eitherAbort().signal;
  }

  /** Calls `fn` once when request_timeout passes (not when the caller hangs up). */
  onAbort(fn: (reason: unknown) => void): void {
    this.expiry.onAbort(fn);
  }

  /** The call is over: the timer stops and nothing fires any more. */
  clear(): void {
    clearTimeout(this.timer);
  }

  private eitherAbort(): LazyAbort {
    if (!this.either) {
      const either = new LazyAbort();
      this.either = either;
      this.expiry.onAbort((reason) => either.fire(reason));
      this.gone?.onAbort((reason) => either.fire(reason));
    }
    return this.either;
  }
}
