// Domain event → job: which ordering lane it runs in and what makes it a duplicate.
import { shortHash } from '../gitlab/markers.js';
import type { BotEvent, ReviewRequested } from '../events/types.js';
import type { JobSpec } from './queue.js';

export const mrLane = (pid: number, iid: number) => `mr:${pid}:${iid}`;
export const threadLane = (pid: number, iid: number, did: string) => `thread:${pid}:${iid}:${did}`;

/**
 * The MR's trunk review for a thread that needs it (the reply waits for it: AwaitJob). One live job per MR however
 * many threads wait; it runs in the MR's lane, so after a review already queued or running there, and is skipped
 * when that one made a trunk (other than `staleTrunk`, the one the thread could not use).
 */
export function trunkJobFor(mr: Omit<ReviewRequested, 'kind' | 'reason' | 'forThread'>, staleTrunk?: string): JobSpec<ReviewRequested> {
  return {
    kind: 'review',
    orderKey: mrLane(mr.project.id, mr.iid),
    dedupeKeys: [`trunk:${mr.project.id}:${mr.iid}`],
    data: { ...mr, kind: 'review', reason: 'missing_trunk', forThread: staleTrunk ? { staleTrunk } : {} },
  };
}

export function jobFor(event: BotEvent, deliveryKey?: string): JobSpec<BotEvent> {
  const keys = deliveryKey ? [`delivery:${deliveryKey}`] : [];
  switch (event.kind) {
    case 'review':
    case 'push':
      // An MR is reviewed once per head commit, however many hooks announce it.
      // "Marked ready" gets its own key: the draft's open event at the same head was seen (and skipped) already.
      keys.push(`${event.kind === 'review' && event.reason === 'ready' ? 'ready' : 'head'}:${event.project.id}:${event.iid}:${event.headSha}`);
      return { kind: event.kind === 'review' ? 'review' : 'update', orderKey: mrLane(event.project.id, event.iid), dedupeKeys: keys, data: event };
    case 'note': {
      // A note is answered once; an edit counts again only if its text changed.
      const k = event.action === 'update' ? `note:${event.noteId}:${shortHash(event.body)}` : `note:${event.noteId}`;
      keys.push(k);
      return { kind: 'reply', orderKey: threadLane(event.project.id, event.iid, event.discussionId), dedupeKeys: keys, data: event };
    }
  }
}
