// Domain event → job: which ordering lane it runs in and what makes it a duplicate.
import { shortHash } from '../gitlab/markers.js';
import type { BotEvent, ReviewRequested } from '../events/types.js';
import type { JobSpec } from './queue.js';
import { dedupeKey, lane } from '../keys.js';

/**
 * The MR's trunk review for a thread that needs it (the reply waits for it: AwaitJob). One live job per MR however
 * many threads wait; it runs in the MR's lane, so after a review already queued or running there, and is skipped
 * when that one made a trunk (other than `staleTrunk`, the one the thread could not use).
 */
export function trunkJobFor(mr: Omit<ReviewRequested, 'kind' | 'reason' | 'forThread'>, staleTrunk?: string): JobSpec<ReviewRequested> {
  return {
    kind: 'review',
    orderKey: lane.mr(mr.project.id, mr.iid),
    dedupeKeys: [dedupeKey.trunk(mr.project.id, mr.iid)],
    data: { ...mr, kind: 'review', reason: 'missing_trunk', forThread: staleTrunk ? { staleTrunk } : {} },
  };
}

export function jobFor(event: BotEvent, deliveryKey?: string): JobSpec<BotEvent> {
  const keys = deliveryKey ? [dedupeKey.delivery(deliveryKey)] : [];
  switch (event.kind) {
    case 'review':
    case 'push':
      // An MR is reviewed once per head commit, however many hooks announce it.
      // "Marked ready" gets its own key: the draft's open event at the same head was seen (and skipped) already.
      keys.push((event.kind === 'review' && event.reason === 'ready' ? dedupeKey.ready : dedupeKey.head)(event.project.id, event.iid, event.headSha));
      return { kind: event.kind === 'review' ? 'review' : 'update', orderKey: lane.mr(event.project.id, event.iid), dedupeKeys: keys, data: event };
    case 'note': {
      // A note is answered once; an edit counts again only if its text changed.
      keys.push(dedupeKey.note(event.noteId, event.action === 'update' ? shortHash(event.body) : undefined));
      return { kind: 'reply', orderKey: lane.thread(event.project.id, event.iid, event.discussionId), dedupeKeys: keys, data: event };
    }
  }
}
