/**
 * How a new revision takes over an app's traffic, as a small value type.
 *
 * - `Strategy.rolling()` (default): start a runner on the new revision, wait
 *   for its setup and health check, then move the alias. A failing setup fails
 *   the deploy and leaves traffic where it was.
 * - `Strategy.recreate()`: move the alias at once; the next request may cold-start.
 */
import type { StrategyName } from "../src/model/catalog";

export class Strategy {
  static rolling(): Strategy {
    return new Strategy("rolling");
  }
  static recreate(): Strategy {
    return new Strategy("recreate");
  }
  /** Parses `rolling` or `recreate`; anything else is an error naming the value. */
  static of(name: string): Strategy {
    if (name === "rolling" || name === "recreate") return new Strategy(name);
    throw new Error(`strategy: expected "rolling" or "recreate", got ${JSON.stringify(name)}`);
  }
  private constructor(readonly name: StrategyName) {}
  toString(): string {
    return this.name;
  }
}
