/**
 * How a new revision takes over an app's traffic, as a small value type.
 *
 * - `Strategy.rolling()` (default): start a runner on the new revision, wait
 *   for its setup and health check, then move the alias. A failing setup fails
 *   the deploy and leaves traffic where it was.
 * - `Strategy.recreate()`: move the alias at once; the next request may cold-start.
 */
import * as pulumi from "@pulumi/pulumi";
import { STRATEGIES, type StrategyName } from "../src/model/catalog";

export class Strategy {
  static rolling(): Strategy {
    return new Strategy("rolling");
  }
  static recreate(): Strategy {
    return new Strategy("recreate");
  }
  /**
   * Parses a strategy name (`rolling` or `recreate`). Anything else fails the
   * program with a RunError naming the value and what is allowed: a message,
   * no stack trace.
   */
  static of(name: string): Strategy {
    if (isStrategyName(name)) return new Strategy(name);
    throw new pulumi.RunError(`strategy: expected ${STRATEGIES.map((s) => JSON.stringify(s)).join(" or ")}, got ${JSON.stringify(name)}`);
  }
  private constructor(readonly name: StrategyName) {}
  toString(): string {
    return this.name;
  }
}

function isStrategyName(name: string): name is StrategyName {
  return (STRATEGIES as readonly string[]).includes(name);
}
