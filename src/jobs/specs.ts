// Domain event → job: which ordering lane it runs in and what makes it a duplicate.
import { shortHash } from '../gitlab/markers.js';
import type { BotEvent } from '../events/types.js';
import type { JobSpec } from './queue.js';

export const mrLane = (pid: number, iid: number) => `mr:${pid}:${iid}`;
export const threadLane = (pid: number, iid: number, did: string) => `thread:${pid}:${iid}:${did}`;

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
