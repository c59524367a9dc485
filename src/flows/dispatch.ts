// Job → flow. The queue calls this; flows do the work.
import type { BotEvent, CodePushed, NoteAdded, ReviewRequested } from '../events/types.js';
import { AwaitJob, type Job, type JobContext } from '../jobs/queue.js';
import type { Deps } from './deps.js';
import { withJobLogContext } from '../log-context.js';
import { postFailureNote, type FailureNotice } from './failure.js';
import { replyToNote } from './reply.js';
import { reviewMr } from './review.js';
import { updateMr } from './update.js';

export interface FlowTable {
  review(d: Deps, ev: ReviewRequested, ctx: JobContext): Promise<unknown>;
  update(d: Deps, ev: CodePushed, ctx: JobContext): Promise<unknown>;
  reply(d: Deps, ev: NoteAdded, ctx: JobContext): Promise<unknown>;
}

export const defaultFlows: FlowTable = {
  review: (d, ev, ctx) => reviewMr(d, { project: ev.project, iid: ev.iid, reason: ev.reason, forThread: ev.forThread }, ctx.signal),
  update: (d, ev, ctx) => updateMr(d, ev, ctx.signal),
  reply: (d, ev, ctx) => replyToNote(d, ev, ctx.signal, ctx.waited),
};

export function jobHandler(d: Deps, flows: FlowTable = defaultFlows) {
  return (job: Job, ctx: JobContext): Promise<void> => withJobLogContext(async () => {
    const notice = job.kind === 'notify' ? (job.data as FailureNotice) : undefined;
    const claimed = notice?.event ?? (job.data as BotEvent);
    const access = await d.projects.access(claimed.project.id);
    if (!access.ok) {
      // Not a failure: no note (the bot may not even see the MR), no retry. One line, and the job is done.
      d.log.warn({ job: job.id, kind: job.kind, projectId: claimed.project.id, reason: access.reason }, 'hook ignored: project not usable');
      return;
    }
    // From here on the project is the API's: its path labels records and logs, its id keys everything.
    const { id, path, webUrl } = access.project;
    const ev = { ...claimed, project: { id, path, webUrl } } as BotEvent;
    const log = d.log.child({ job: job.id, kind: job.kind, attempt: job.attempt, project: path, iid: ev.iid });
    const jd: Deps = { ...d, log };
    log.info({ waited: ctx.waited }, 'job started');
    try {
      if (notice) await postFailureNote(jd, { ...notice, event: ev });
      else switch (ev.kind) {
        case 'review':
          await flows.review(jd, ev, ctx);
          break;
        case 'push':
          await flows.update(jd, ev, ctx);
          break;
        case 'note':
          await flows.reply(jd, ev, ctx);
          break;
      }
    } catch (e) {
      // Not a failure: the queue runs the named job first and this one again after it.
      if (e instanceof AwaitJob) log.info({ why: e.message, waitsFor: e.spec.orderKey }, 'job waits for another');
      throw e;
    }
    log.info('job done');
  });
}
