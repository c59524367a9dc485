import { describe, expect, it } from 'vitest';
import type { NoteAdded } from '../../src/events/types.js';
import type { DiscussionInfo, NoteInfo } from '../../src/gitlab/types.js';
import { noteFromApi } from '../../src/flows/trusted-note.js';

const BOT = { id: 99, username: 'review-bot' };
const claimed: NoteAdded = {
  kind: 'note', project: { id: 1, path: 'g/app' }, iid: 3, mrState: 'opened', mrTitle: 't', noteId: 10, discussionId: 'd'.repeat(40),
  body: '@review-bot pause', author: { id: 7, username: 'alice' }, noteType: null, position: null, action: 'create',
  mentionsBot: true, mentionsOthers: [],
};
const note = (n: Partial<NoteInfo>): NoteInfo => ({ id: 10, body: 'thanks', author: { id: 7, username: 'alice' }, system: false, createdAt: '', type: null, position: null, ...n });
const disc = (...notes: NoteInfo[]): DiscussionInfo => ({ id: 'd'.repeat(40), individualNote: false, notes });

describe('noteFromApi', () => {
  it('takes body, author and mentions from the API note, not from the hook', () => {
    const r = noteFromApi(claimed, disc(note({ body: 'looks good @bob', author: { id: 7, username: 'alice-renamed' }, type: 'DiscussionNote' })), BOT);
    expect('ev' in r && r.ev).toMatchObject({ body: 'looks good @bob', author: { id: 7, username: 'alice-renamed' }, mentionsBot: false, mentionsOthers: ['bob'], noteType: 'DiscussionNote' });
  });

  it('recomputes a mention of the bot from the API body', () => {
    const r = noteFromApi({ ...claimed, body: 'nothing', mentionsBot: false }, disc(note({ body: '@review-bot why?' })), BOT);
    expect('ev' in r && r.ev.mentionsBot).toBe(true);
  });

  it.each([
    ['a note that is not in the named discussion', disc(note({ id: 11 }))],
    ['another author than the hook claims', disc(note({ author: { id: 8, username: 'mallory' } }))],
    ["the bot's own note", disc(note({ author: { id: 99, username: 'review-bot' } }))],
    ['a system note', disc(note({ system: true }))],
    ['an empty note', disc(note({ body: '  ' }))],
  ])('ignores %s', (_why, d) => {
    expect(noteFromApi(claimed, d, BOT)).toHaveProperty('skip');
  });
});
