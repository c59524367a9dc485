// GitLab computes an MR's diff version asynchronously: right after the MR is created, or after a push, `diff_refs`
// is null (and /diffs is empty) for a few seconds. Wait for it here, briefly, then let the queue retry the job.
import { setTimeout as sleep } from 'node:timers/promises';
import type { GitLabClient } from '../gitlab/client.js';
import type { DiffRefs, MergeRequestInfo } from '../gitlab/types.js';

export type ReadyMr = MergeRequestInfo & { diffRefs: DiffRefs };

export class DiffNotReady extends Error {
  override name = 'DiffNotReady';
  readonly transient = true;
  constructor(message: string, readonly retryAfterMs: number) {
    super(message);
  }
}

export interface ReadyOptions {
  /** fetches before giving the job back to the queue */
  tries?: number;
  /** first wait between fetches; doubles each time */
  delayMs?: number;
  /** what the queue waits before the next attempt */
  retryAfterMs?: number;
  signal?: AbortSignal;
}

/** The MR once GitLab has its diff version (`known`: a fetch the caller already has). */
export async function readyMergeRequest(gitlab: Pick<GitLabClient, 'mergeRequest'>, pid: number, iid: number, known?: MergeRequestInfo, o: ReadyOptions = {}): Promise<ReadyMr> {
  const tries = o.tries ?? 5;
  let mr = known ?? (await gitlab.mergeRequest(pid, iid));
  for (let i = 1; !mr.diffRefs; i++) {
    if (i >= tries || o.signal?.aborted) throw new DiffNotReady(`GitLab has not computed the diff of !${iid} yet (diff_refs is null)`, o.retryAfterMs ?? 5_000);
    await sleep((o.delayMs ?? 250) * 2 ** (i - 1));
    mr = await gitlab.mergeRequest(pid, iid);
  }
  return mr as ReadyMr;
}
