// After the last try: one clear note on the MR, and a failure record for the status page.
import { ClaudeError } from '../claude/result.js';
import type { BotEvent } from '../events/types.js';
import { shortHash, withMarker } from '../gitlab/markers.js';
import type { Job } from '../jobs/queue.js';
import { reasonOf } from '../jobs/retry.js';
import type { Deps } from './deps.js';

export function failureNotifier(d: Deps) {
  return async (job: Job, err: unknown): Promise<void> => {
    const ev = job.data as BotEvent;
    const reason = reasonOf(err);
    d.log.error({ job: job.id, kind: job.kind, attempt: job.attempt, project: ev.project.path, iid: ev.iid, reason }, 'job failed for good');
    try {
      await d.store.recordFailure({ at: new Date().toISOString(), jobId: job.id, kind: job.kind, projectId: ev.project.id, iid: ev.iid, reason });
    } catch (e) {
      d.log.error({ job: job.id, reason: reasonOf(e) }, 'could not record the failure'); // the note matters more
    }
    const retry = job.kind === 'reply' ? `mention \`@${d.bot.username}\` in this thread again` : `comment \`@${d.bot.username} review\``;
    const body = `⚠️ **mr-reviewer:** ${job.kind === 'reply' ? 'reply' : 'review'} failed: ${noteReason(err)}\n\nTo retry, ${retry}.`;
    const marker = withMarker(body, { kind: 'failure', fp: shortHash(job.id) });
    try {
      if (ev.kind === 'note' && job.kind === 'reply') await d.gitlab.reply(ev.project.id, ev.iid, ev.discussionId, marker);
      else await d.gitlab.createNote(ev.project.id, ev.iid, marker);
    } catch (e) {
      d.log.error({ job: job.id, reason: reasonOf(e) }, 'could not post the failure note');
    }
  };
}

/** The reason as MR readers see it: an API error's first sentence (the CLI goes on about gateways and their hosts). */
function noteReason(err: unknown): string {
  if (err instanceof ClaudeError && err.kind === 'api') return `claude api: ${/^.*?[.!?](?=\s|$)/.exec(err.message)?.[0] ?? err.message}`;
  return reasonOf(err);
}
