// After the last try: a failure record for the status page, and one clear note on the MR, queued as a job of its
// own ('notify') so that a GitLab outage delays the note instead of losing it.
import { ClaudeError } from '../claude/result.js';
import type { BotEvent } from '../events/types.js';
import { shortHash, withMarker } from '../gitlab/markers.js';
import type { EnqueueResult, Job, JobKind, JobSpec } from '../jobs/queue.js';
import { reasonOf } from '../jobs/retry.js';
import { postedIndex } from './context.js';
import type { Deps } from './deps.js';
import { dedupeKey } from '../keys.js';

/** What a notify job carries: the event that failed, and why, as MR readers should read it. */
export interface FailureNotice {
  event: BotEvent;
  failed: { id: string; kind: JobKind; attempt: number };
  reason: string;
}

/** Runs when a job gives up (the queue's onDead); it needs no identity, so it exists before the flows' deps. */
export function failureNotifier(d: Pick<Deps, 'log' | 'store'>, enqueue: (spec: JobSpec<FailureNotice>) => Promise<EnqueueResult>) {
  return async (job: Job, err: unknown): Promise<void> => {
    const reason = reasonOf(err);
    if (job.kind === 'notify') {
      const n = job.data as FailureNotice;
      d.log.error({ job: job.id, failedJob: n.failed.id, project: n.event.project.path, iid: n.event.iid, reason }, 'could not post the failure note');
      return;
    }
    const ev = job.data as BotEvent;
    d.log.error({ job: job.id, kind: job.kind, attempt: job.attempt, project: ev.project.path, iid: ev.iid, reason }, 'job failed for good');
    try {
      await d.store.recordFailure({ at: new Date().toISOString(), jobId: job.id, kind: job.kind, projectId: ev.project.id, iid: ev.iid, reason });
    } catch (e) {
      d.log.error({ job: job.id, reason: reasonOf(e) }, 'could not record the failure'); // the note matters more
    }
    const notice: FailureNotice = { event: ev, failed: { id: job.id, kind: job.kind, attempt: job.attempt }, reason: noteReason(err) };
    try {
      // Same lane: the note comes before anything queued for this MR or thread after it.
      await enqueue({ kind: 'notify', orderKey: job.orderKey, dedupeKeys: [dedupeKey.notify(job.id)], data: notice });
    } catch (e) {
      d.log.error({ job: job.id, reason: reasonOf(e) }, 'could not queue the failure note');
    }
  };
}

/** The notify job: posts the note once (a retry finds the one a lost answer already created). */
export async function postFailureNote(d: Deps, n: FailureNotice): Promise<void> {
  const ev = n.event;
  const fp = shortHash(n.failed.id);
  const idx = await postedIndex(d, ev.project.id, ev.iid);
  if (idx.kinds.has(`failure:${fp}`)) return;
  const isReply = n.failed.kind === 'reply';
  const retry = isReply ? `mention \`@${d.bot.username}\` in this thread again` : `comment \`@${d.bot.username} review\``;
  const body = withMarker(`⚠️ **mr-reviewer:** ${isReply ? 'reply' : 'review'} failed: ${n.reason}\n\nTo retry, ${retry}.`, { kind: 'failure', fp });
  if (ev.kind === 'note' && isReply) await d.gitlab.reply(ev.project.id, ev.iid, ev.discussionId, body);
  else await d.gitlab.createNote(ev.project.id, ev.iid, body);
  d.log.info({ failedJob: n.failed.id, project: ev.project.path, iid: ev.iid }, 'failure note posted');
}

/** The reason as MR readers see it: an API error's first sentence (the CLI goes on about gateways and their hosts). */
function noteReason(err: unknown): string {
  if (err instanceof ClaudeError && err.kind === 'api') return `claude api: ${/^.*?[.!?](?=\s|$)/.exec(err.message)?.[0] ?? err.message}`;
  return reasonOf(err);
}
