/**
 * Dynamic provider of an app's alias in one environment (the AppAlias
 * resource, components/AppAlias.ts): which revision it serves, its auth mode
 * and its runtime-tunable scaling.
 *
 * Scaling follows fal's inheritance rule (src/model/scaling.ts): the code's
 * values apply on the first deploy and when `resetScale` is set; otherwise the
 * live values (which `falctl apps scale` may have changed) are kept, and a
 * difference between code and live values is not a change, so it never shows
 * as a perpetual diff.
 */
import type * as pulumi from "@pulumi/pulumi";
import { clientFor, sameValue, type ConnectionProps } from "./connection";
import type { AuthMode, RuntimeScaling, StrategyName } from "../model/catalog";
import { codeScalingApplies, isFirstDeploy, scalingToSend } from "../model/scaling";

export interface AppAliasProps extends ConnectionProps {
  readonly appName: string;
  readonly environment: string;
  /** The revision the alias serves. */
  readonly revisionId: string;
  readonly authMode: AuthMode;
  /** How the alias moves to a new revision. */
  readonly strategy: StrategyName;
  /** The code's runtime-tunable values. */
  readonly scaling: RuntimeScaling;
  /** Apply `scaling` over the live values. */
  readonly resetScale: boolean;
  /** A new value restarts the app's runners (a rollout). */
  readonly rolloutTrigger: string;
  /** Rollouts kill runners at once instead of draining them. */
  readonly forceRollout: boolean;
  /** Keep at most this many revisions; 0 keeps all. */
  readonly revisionHistoryLimit: number;
}

export interface AppAliasOuts extends AppAliasProps {
  readonly endpointId: string;
  readonly alias: string;
  /** Scaling as the platform applies it (after inheritance). */
  readonly liveScaling: RuntimeScaling;
}

export const appAliasProvider: pulumi.dynamic.ResourceProvider<AppAliasProps, AppAliasOuts> = {
  async diff(_id, olds, news) {
    const replaces: string[] = [];
    if (olds.appName !== news.appName) replaces.push("appName");
    if (olds.environment !== news.environment) replaces.push("environment");
    const changes: string[] = [...replaces];
    if (olds.revisionId !== news.revisionId) changes.push("revisionId");
    if (olds.authMode !== news.authMode) changes.push("authMode");
    if (olds.strategy !== news.strategy) changes.push("strategy");
    // The resource exists, so this is never a first deploy: only resetScale makes a code/live difference a change.
    if (codeScalingApplies(false, news.resetScale) && !sameValue(olds.liveScaling, news.scaling)) changes.push("scaling");
    if (olds.resetScale !== news.resetScale) changes.push("resetScale");
    if ((olds.rolloutTrigger ?? "") !== news.rolloutTrigger) changes.push("rolloutTrigger");
    if ((olds.forceRollout ?? false) !== news.forceRollout) changes.push("forceRollout");
    if ((olds.revisionHistoryLimit ?? 0) !== news.revisionHistoryLimit) changes.push("revisionHistoryLimit");
    if (changes.length === 0) {
      // Compare with the live alias too: a rollback or auth change made with falctl since the
      // last up must be put back by the next up, with or without --refresh.
      // Best effort: an unreachable platform must not fail a preview (the deploy check warns).
      const live = await clientFor(news)
        .findApp(news.appName, news.environment)
        .then((a) => ({ app: a }))
        .catch(() => undefined);
      if (live && !live.app) changes.push("revisionId");
      else if (live?.app) {
        if (live.app.revision !== news.revisionId) changes.push("revisionId");
        if (live.app.auth_mode !== news.authMode) changes.push("authMode");
      }
    }
    return { changes: changes.length > 0, replaces, deleteBeforeReplace: true };
  },

  async create(inputs) {
    const client = clientFor(inputs);
    // A first deploy takes the code's values; an app already live (made outside this
    // stack, or imported) keeps its runtime-tunable values unless resetScale.
    const existing = await client.findApp(inputs.appName, inputs.environment);
    const app = await client.updateApp(inputs.appName, inputs.environment, {
      revision_id: inputs.revisionId,
      strategy: inputs.strategy,
      auth_mode: inputs.authMode,
      scaling: scalingToSend(isFirstDeploy(existing), inputs.scaling, inputs.resetScale),
    });
    await pruneRevisions(inputs);
    return {
      id: app.id,
      outs: { ...inputs, endpointId: app.endpoint_id, alias: app.alias, liveScaling: app.scaling },
    };
  },

  async update(_id, olds, news) {
    const client = clientFor(news);
    const app = await client.updateApp(news.appName, news.environment, {
      // Always the wanted revision: a no-op when the alias is there already, a switch back after drift.
      revision_id: news.revisionId,
      strategy: news.strategy,
      auth_mode: news.authMode,
      // The alias this stack created has served a revision since: never a first deploy.
      scaling: scalingToSend(false, news.scaling, news.resetScale),
    });
    if ((olds.rolloutTrigger ?? "") !== news.rolloutTrigger) {
      await client.rollout(news.appName, news.environment, news.forceRollout);
    }
    await pruneRevisions(news);
    return { outs: { ...news, endpointId: app.endpoint_id, alias: app.alias, liveScaling: app.scaling } };
  },

  async read(id, props) {
    const app = await clientFor(props!).findApp(props!.appName, props!.environment);
    if (!app || app.id !== id) return { id: "", props };
    // Drift made outside Pulumi (set-rev, scale, auth) shows up on refresh.
    return {
      id,
      props: { ...props!, revisionId: app.revision ?? "", authMode: app.auth_mode, liveScaling: app.scaling },
    };
  },

  async delete(_id, props) {
    const client = clientFor(props);
    const app = await client.findApp(props.appName, props.environment);
    if (app) await client.deleteApp(props.appName, props.environment);
  },
};

/** Deletes the oldest inactive revisions beyond revisionHistoryLimit (0 keeps all). */
async function pruneRevisions(p: AppAliasProps): Promise<void> {
  if (!p.revisionHistoryLimit) return;
  const client = clientFor(p);
  const revs = await client.listRevisions(p.appName, p.environment); // newest first
  let kept = revs.filter((r) => r.active).length;
  for (const r of revs) {
    if (r.active) continue;
    if (kept < p.revisionHistoryLimit) {
      kept++;
      continue;
    }
    await client.deleteRevision(r.id);
  }
}
