import { describe, expect, it } from 'vitest';
import type { NoteInfo } from '../src/gitlab/types.js';
import { THREAD_RULES, threadPrompt } from '../src/review/thread.js';

const BOT = 99;
const note = (id: number, authorId: number, username: string, body: string): NoteInfo => ({ id, body, author: { id: authorId, username }, system: false, createdAt: '2025-01-01T00:00:00Z' });
const base = { iid: 3, note: { id: 20, author: 'alice', body: 'Is this safe?' }, unseen: [], botId: BOT };

describe('threadPrompt', () => {
  it('asks to answer one fenced comment, with the rules', () => {
    const p = threadPrompt(base);
    expect(p).toContain('merge request !3');
    expect(p).toContain('[note 20] from @alice:\n<comment>\nIs this safe?\n</comment>');
    expect(p.endsWith(THREAD_RULES)).toBe(true);
  });

  it("names the thread's place in the diff, with or without a line", () => {
    expect(threadPrompt({ ...base, location: { file: 'src/a.ts', line: 4 } })).toContain('The thread is on src/a.ts:4 of the diff.');
    expect(threadPrompt({ ...base, location: { file: 'src/a.ts', line: null } })).toContain('The thread is on src/a.ts of the diff.');
  });

  it("shows notes since the bot last spoke, marking its own as 'you'", () => {
    const p = threadPrompt({ ...base, unseen: [note(10, BOT, 'review-bot', 'A bug.'), note(11, 12, 'bob', ' Agreed. ')] });
    expect(p).toContain('<thread_notes>\n[note 10] you (mr-reviewer):\nA bug.\n\n[note 11] @bob:\nAgreed.\n</thread_notes>');
  });

  it('a rebuilt session gets the whole thread instead of the unseen notes, and the finding it opened with', () => {
    const p = threadPrompt({ ...base, unseen: [note(11, 12, 'bob', 'unseen')], history: [note(10, BOT, 'review-bot', 'old')], findingNote: 'Off by one' });
    expect(p).toContain('Your memory of this thread was lost');
    expect(p).toContain('<thread_history>\n[note 10] you (mr-reviewer):\nold\n</thread_history>');
    expect(p).not.toContain('<thread_notes>');
    expect(p).toContain('<finding>\nOff by one\n</finding>');
  });
});
