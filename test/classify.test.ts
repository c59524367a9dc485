import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  classify,
  findMentions,
  HANDLED_EVENTS,
  KNOWN_EVENTS,
  PayloadError,
} from '../src/events/classify.js';
import type { BotIdentity } from '../src/gitlab/identity.js';
import type { BotEvent, Classified, CodePushed, NoteAdded, ReviewRequested } from '../src/events/types.js';

// Fixtures: see test/fixtures/gitlab/README.md for where each one comes from.
 
type Json = any;
const fixture = (name: string): Json =>
  JSON.parse(readFileSync(new URL(`./fixtures/gitlab/${name}`, import.meta.url), 'utf8'));

const BOT: BotIdentity = { id: 4242, username: 'reviewer-bot' };
const MR = 'Merge Request Hook';
const NOTE = 'Note Hook';

function event(c: Classified): BotEvent {
  if (!('event' in c)) throw new Error(`expected an event, got ignore: ${c.ignore}`);
  return c.event;
}
function ignored(c: Classified): string {
  if (!('ignore' in c)) throw new Error(`expected ignore, got ${c.event.kind} event`);
  return c.ignore;
}
/** Calls classify expecting a PayloadError; returns its message after checking it is one line. */
function payloadError(header: string | undefined, payload: unknown): string {
  let err: unknown;
  try {
    classify(header, payload, BOT);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PayloadError);
  const msg = (err as Error).message;
  expect(msg).not.toMatch(/[\r\n]/);
  expect(msg.length).toBeLessThanOrEqual(300);
  expect(msg).not.toMatch(/Invalid input|"code"|\[\s*\{/); // no raw zod output
  return msg;
}

/** The verbatim doc MR-note example plus what real GitLab always sends (NoteBuilder). */
function mrNote(edit?: (p: Json) => void): Json {
  const p = fixture('note-mr.json');
  p.object_attributes.discussion_id = '0a1b2c3d4e5f60718293a4b5c6d7e8f901234567';
  p.object_attributes.type = null;
  p.object_attributes.position = null;
  edit?.(p);
  return p;
}
function mrOpen(edit?: (p: Json) => void): Json {
  const p = fixture('mr-open.json');
  edit?.(p);
  return p;
}
/** An MR `update` with no code change and no draft change. */
function mrUpdate(edit?: (p: Json) => void): Json {
  return mrOpen((p) => {
    p.object_attributes.action = 'update';
    p.changes = { updated_at: { previous: 'a', current: 'b' } };
    edit?.(p);
  });
}

// ---------------------------------------------------------------------------------------------

describe('event header', () => {
  it('lists the handled events and every known GitLab header', () => {
    expect([...HANDLED_EVENTS]).toEqual(['Merge Request Hook', 'Note Hook', 'Confidential Note Hook']);
    for (const h of HANDLED_EVENTS) expect(KNOWN_EVENTS).toContain(h);
    for (const h of [
      'Push Hook',
      'Tag Push Hook',
      'Issue Hook',
      'Confidential Issue Hook',
      'Pipeline Hook',
      'Job Hook',
      'Deployment Hook',
      'Release Hook',
      'Wiki Page Hook',
      'Member Hook',
      'Subgroup Hook',
      'Feature Flag Hook',
      'Emoji Hook',
      'Resource Access Token Hook',
      'Project Hook',
      'Vulnerability Hook',
      'Milestone Hook',
      'System Hook',
    ]) {
      expect(KNOWN_EVENTS).toContain(h);
    }
    expect(new Set(KNOWN_EVENTS).size).toBe(KNOWN_EVENTS.length);
  });

  it('rejects a missing, empty or unknown header', () => {
    expect(payloadError(undefined, mrOpen())).toMatch(/^unknown event/);
    expect(payloadError('', mrOpen())).toMatch(/^unknown event/);
    expect(payloadError('   ', mrOpen())).toMatch(/^unknown event/);
    expect(payloadError('Foo Hook', mrOpen())).toBe('unknown event: "Foo Hook"');
    expect(payloadError('merge request hook', mrOpen())).toMatch(/^unknown event/); // exact spelling
    expect(payloadError('X'.repeat(10_000), {})).toMatch(/^unknown event: "X+…"$/);
  });

  it('ignores known but unhandled events without validating their payload', () => {
    expect(classify('Push Hook', fixture('push.json'), BOT)).toEqual({ ignore: 'unsupported event: Push Hook' });
    for (const h of KNOWN_EVENTS.filter((e) => !HANDLED_EVENTS.includes(e))) {
      expect(classify(h, null, BOT)).toEqual({ ignore: `unsupported event: ${h}` });
    }
  });

  it('tolerates surrounding whitespace in the header', () => {
    expect(event(classify(' Merge Request Hook ', mrOpen(), BOT)).kind).toBe('review');
  });
});

// ---------------------------------------------------------------------------------------------

describe('Merge Request Hook', () => {
  it('turns the documented example (action open) into a review request', () => {
    const e = event(classify(MR, mrOpen(), BOT)) as ReviewRequested;
    expect(e).toEqual({
      kind: 'review',
      reason: 'open',
      project: {
        id: 1,
        path: 'gitlabhq/gitlab-test',
        webUrl: 'http://example.com/gitlabhq/gitlab-test',
      },
      iid: 1,
      title: 'MS-Viewport',
      headSha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      sourceBranch: 'ms-viewport',
      targetBranch: 'master',
      draft: false,
      state: 'opened',
      actor: { id: 1, username: 'root', name: 'Administrator' },
    } satisfies ReviewRequested);
  });

  it('reopen → review reason reopen', () => {
    const e = event(classify(MR, mrOpen((p) => (p.object_attributes.action = 'reopen')), BOT)) as ReviewRequested;
    expect(e.kind).toBe('review');
    expect(e.reason).toBe('reopen');
  });

  it('does not filter drafts: emits with draft true', () => {
    const e = event(classify(MR, mrOpen((p) => (p.object_attributes.draft = true)), BOT));
    expect(e.kind).toBe('review');
    expect((e as ReviewRequested).draft).toBe(true);
    // older payloads: only work_in_progress
    const old = mrOpen((p) => {
      delete p.object_attributes.draft;
      p.object_attributes.work_in_progress = true;
    });
    expect((event(classify(MR, old, BOT)) as ReviewRequested).draft).toBe(true);
  });

  it('carries no clone URL from the payload, and needs none (git asks the API)', () => {
    const p = mrOpen((p) => {
      p.project.git_http_url = '--upload-pack=touch /tmp/pwned';
      p.project.http_url = 'https://evil.example/g/app.git';
      delete p.project.web_url;
    });
    const e = event(classify(MR, p, BOT)) as ReviewRequested;
    expect(e.project).toEqual({ id: 1, path: 'gitlabhq/gitlab-test' });
    expect(JSON.stringify(e)).not.toMatch(/upload-pack|evil\.example/);
    const none = mrOpen((p) => {
      delete p.project.git_http_url;
      delete p.project.http_url;
    });
    expect((event(classify(MR, none, BOT)) as ReviewRequested).project.id).toBe(1);
  });

  describe('update', () => {
    it('draft true→false → review reason ready', () => {
      const p = mrUpdate((p) => (p.changes.draft = { previous: true, current: false }));
      const e = event(classify(MR, p, BOT)) as ReviewRequested;
      expect(e.kind).toBe('review');
      expect(e.reason).toBe('ready');
    });

    it('ready transition wins over oldrev (a full review covers the new code)', () => {
      const p = mrUpdate((p) => {
        p.changes.draft = { previous: true, current: false };
        p.object_attributes.oldrev = '95790bf891e76fee5e1747ab589903a6a1f80f22';
      });
      expect((event(classify(MR, p, BOT)) as ReviewRequested).reason).toBe('ready');
    });

    it('work_in_progress true→false (older payloads) → ready', () => {
      const p = mrUpdate((p) => (p.changes.work_in_progress = { previous: true, current: false }));
      expect((event(classify(MR, p, BOT)) as ReviewRequested).reason).toBe('ready');
    });

    it('title losing its Draft:/WIP: prefix (oldest payloads) → ready', () => {
      for (const prefix of ['Draft: ', '[Draft] ', '(draft) ', 'WIP: ', '[WIP] ']) {
        const p = mrUpdate((p) => (p.changes.title = { previous: `${prefix}MS-Viewport`, current: 'MS-Viewport' }));
        expect((event(classify(MR, p, BOT)) as ReviewRequested).reason).toBe('ready');
      }
      // renamed but still a draft: not ready
      const still = mrUpdate((p) => {
        p.object_attributes.draft = true;
        p.changes.title = { previous: 'Draft: a', current: 'b' };
      });
      expect(ignored(classify(MR, still, BOT))).toMatch(/^mr update without new commits/);
      // a plain rename is not a transition
      const rename = mrUpdate((p) => (p.changes.title = { previous: 'a', current: 'b' }));
      expect(ignored(classify(MR, rename, BOT))).toBe('mr update without new commits (title)');
    });

    it('ready→draft is not a review trigger', () => {
      const p = mrUpdate((p) => {
        p.object_attributes.draft = true;
        p.changes.draft = { previous: false, current: true };
      });
      expect(ignored(classify(MR, p, BOT))).toBe('mr update without new commits (draft)');
    });

    it('oldrev → push event (mr-update-push.json)', () => {
      const e = event(classify(MR, fixture('mr-update-push.json'), BOT)) as CodePushed;
      expect(e.kind).toBe('push');
      expect(e.oldrev).toBe('95790bf891e76fee5e1747ab589903a6a1f80f22');
      expect(e.headSha).toBe('da1560886d4f094c3e6c9ef40349f7d38b5d27d7');
      expect(e.iid).toBe(1);
      expect(e.state).toBe('opened');
      expect(e.actor.username).toBe('root');
    });

    it('push to a draft MR is emitted with draft true', () => {
      const p = fixture('mr-update-push.json');
      p.object_attributes.draft = true;
      const e = event(classify(MR, p, BOT)) as CodePushed;
      expect(e.kind).toBe('push');
      expect(e.draft).toBe(true);
    });

    it('ignores updates without code or draft change', () => {
      const labels = mrUpdate((p) => (p.changes.labels = { previous: [], current: [{ id: 1 }] }));
      expect(ignored(classify(MR, labels, BOT))).toBe('mr update without new commits (labels)');
      const desc = mrUpdate((p) => (p.changes.description = { previous: 'a', current: 'b' }));
      expect(ignored(classify(MR, desc, BOT))).toBe('mr update without new commits (description)');
      const assignees = mrUpdate((p) => (p.changes.assignees = { previous: [], current: [] }));
      expect(ignored(classify(MR, assignees, BOT))).toMatch(/assignees/);
      // "all threads resolved" and friends: changes empty or absent
      expect(ignored(classify(MR, mrUpdate((p) => (p.changes = {})), BOT))).toBe('mr update without new commits');
      expect(ignored(classify(MR, mrUpdate((p) => delete p.changes), BOT))).toBe('mr update without new commits');
      expect(ignored(classify(MR, mrUpdate((p) => (p.object_attributes.oldrev = null)), BOT))).toMatch(/^mr update/);
      expect(ignored(classify(MR, mrUpdate((p) => (p.object_attributes.oldrev = '')), BOT))).toMatch(/^mr update/);
    });
  });

  it('ignores approvals and other actions', () => {
    for (const action of ['approved', 'unapproved', 'approval', 'unapproval', 'something_new']) {
      const p = mrOpen((p) => (p.object_attributes.action = action));
      expect(classify(MR, p, BOT)).toEqual({ ignore: `mr action ${action}` });
    }
  });

  it('ignores MRs that are not open', () => {
    const close = mrOpen((p) => Object.assign(p.object_attributes, { action: 'close', state: 'closed' }));
    expect(classify(MR, close, BOT)).toEqual({ ignore: 'mr closed' });
    const merge = mrOpen((p) => Object.assign(p.object_attributes, { action: 'merge', state: 'merged' }));
    expect(classify(MR, merge, BOT)).toEqual({ ignore: 'mr merged' });
    const locked = mrOpen((p) => (p.object_attributes.state = 'locked'));
    expect(classify(MR, locked, BOT)).toEqual({ ignore: 'mr locked' });
    // a push landing on a closed MR is still ignored
    const push = fixture('mr-update-push.json');
    push.object_attributes.state = 'closed';
    expect(classify(MR, push, BOT)).toEqual({ ignore: 'mr closed' });
  });

  it('ignores an open MR without a head commit', () => {
    expect(classify(MR, mrOpen((p) => (p.object_attributes.last_commit = null)), BOT)).toEqual({
      ignore: 'mr has no head commit',
    });
  });

  it('keeps unknown fields (loose schemas) and accepts nulls where GitLab sends them', () => {
    const p = mrOpen((p) => {
      p.brand_new_field = { x: [1, 2, 3] };
      p.object_attributes.description = null;
      p.object_attributes.url = null;
      p.project.web_url = null;
      p.user.name = null;
    });
    const e = event(classify(MR, p, BOT)) as ReviewRequested;
    expect(e).not.toHaveProperty('url'); // a link from the payload is not trusted: replies link by the API's web_url
    expect(e.project.webUrl).toBeUndefined();
    expect(e.actor).toEqual({ id: 1, username: 'root' });
  });
});

// ---------------------------------------------------------------------------------------------

describe('Note Hook', () => {
  it('rejects the verbatim doc example: it lacks discussion_id, which real GitLab always sends', () => {
    expect(payloadError(NOTE, fixture('note-mr.json'))).toBe(
      'invalid Note Hook payload: object_attributes.discussion_id: expected string for a MergeRequest note',
    );
  });

  it('turns a comment on a merge request into a NoteAdded event', () => {
    const e = event(classify(NOTE, mrNote(), BOT)) as NoteAdded;
    expect(e).toEqual({
      kind: 'note',
      project: {
        id: 5,
        path: 'gitlab-org/gitlab-test',
        webUrl: 'http://example.com/gitlab-org/gitlab-test',
      },
      iid: 1,
      mrState: 'opened',
      mrTitle: 'Tempora et eos debitis quae laborum et.',
      headSha: '562e173be03b8ff2efb05345d12df18815438a4b',
      noteId: 1244,
      discussionId: '0a1b2c3d4e5f60718293a4b5c6d7e8f901234567',
      body: 'This MR needs work.',
      author: { id: 1, username: 'root', name: 'Administrator' },
      noteType: null,
      position: null,
      action: 'create',
      mentionsBot: false,
      mentionsOthers: [],
    } satisfies NoteAdded);
  });

  it('diff note with position (note-mr-diff.json)', () => {
    const e = event(classify(NOTE, fixture('note-mr-diff.json'), BOT)) as NoteAdded;
    expect(e.noteType).toBe('DiffNote');
    expect(e.discussionId).toBe('f0d4b43a2b1e4b2f5c6e9a7d8c3b1a0e9f8d7c6b');
    expect(e.position).toMatchObject({
      base_sha: '95790bf891e76fee5e1747ab589903a6a1f80f22',
      head_sha: '562e173be03b8ff2efb05345d12df18815438a4b',
      old_path: 'README.md',
      new_path: 'README.md',
      position_type: 'text',
      old_line: null,
      new_line: 12,
    });
    expect(e.mentionsBot).toBe(true);
    expect(e.mentionsOthers).toEqual([]);
  });

  it('a malformed position does not cost the reply', () => {
    const p = fixture('note-mr-diff.json');
    p.object_attributes.position = 'garbage';
    expect((event(classify(NOTE, p, BOT)) as NoteAdded).position).toBeNull();
    p.object_attributes.position = { new_line: 'twelve' };
    expect((event(classify(NOTE, p, BOT)) as NoteAdded).position).toBeNull();
  });

  it('maps note types', () => {
    const t = (type: unknown) => (event(classify(NOTE, mrNote((p) => (p.object_attributes.type = type)), BOT)) as NoteAdded).noteType;
    expect(t(null)).toBeNull();
    expect(t(undefined)).toBeNull();
    expect(t('DiscussionNote')).toBe('DiscussionNote');
    expect(t('DiffNote')).toBe('DiffNote');
    expect(t('LegacyDiffNote')).toBe('DiscussionNote');
  });

  it('action defaults to create (pre-16.11) and passes update through; other actions are ignored', () => {
    const a = (edit: (p: Json) => void) => classify(NOTE, mrNote(edit), BOT);
    expect((event(a((p) => delete p.object_attributes.action)) as NoteAdded).action).toBe('create');
    expect((event(a((p) => (p.object_attributes.action = null))) as NoteAdded).action).toBe('create');
    expect((event(a((p) => (p.object_attributes.action = 'update'))) as NoteAdded).action).toBe('update');
    expect(ignored(a((p) => (p.object_attributes.action = 'delete')))).toBe('note action delete');
  });

  it('ignores notes on anything but merge requests', () => {
    expect(classify(NOTE, fixture('note-issue.json'), BOT)).toEqual({ ignore: 'note on Issue' });
    expect(classify(NOTE, fixture('note-commit.json'), BOT)).toEqual({ ignore: 'note on Commit' });
    expect(classify(NOTE, fixture('note-snippet.json'), BOT)).toEqual({ ignore: 'note on Snippet' });
  });

  it("ignores the bot's own notes, by id", () => {
    const byAuthor = mrNote((p) => (p.object_attributes.author_id = BOT.id));
    expect(classify(NOTE, byAuthor, BOT)).toEqual({ ignore: 'own note' });
    const byUser = mrNote((p) => {
      delete p.object_attributes.author_id;
      p.user.id = BOT.id;
    });
    expect(classify(NOTE, byUser, BOT)).toEqual({ ignore: 'own note' });
    // an edit of the bot's note by someone else is still the bot's note
    const edited = mrNote((p) => {
      p.object_attributes.author_id = BOT.id;
      p.object_attributes.action = 'update';
    });
    expect(classify(NOTE, edited, BOT)).toEqual({ ignore: 'own note' });
  });

  it('never decides "own note" by name', () => {
    const impostor = mrNote((p) => {
      p.user.username = BOT.username;
      p.user.name = 'Reviewer Bot';
      p.object_attributes.note = `@${BOT.username} hi`;
    });
    const e = event(classify(NOTE, impostor, BOT)) as NoteAdded;
    expect(e.author).toEqual({ id: 1, username: 'reviewer-bot', name: 'Reviewer Bot' });
    expect(e.mentionsBot).toBe(true);
  });

  it('ignores system notes', () => {
    expect(classify(NOTE, mrNote((p) => (p.object_attributes.system = true)), BOT)).toEqual({ ignore: 'system note' });
  });

  it('ignores empty and whitespace-only notes', () => {
    for (const note of ['', '   ', '\n\t \r\n']) {
      expect(classify(NOTE, mrNote((p) => (p.object_attributes.note = note)), BOT)).toEqual({ ignore: 'empty note' });
    }
  });

  it('on a closed or merged MR, only notes mentioning the bot pass', () => {
    for (const state of ['closed', 'merged'] as const) {
      const quiet = mrNote((p) => (p.merge_request.state = state));
      expect(classify(NOTE, quiet, BOT)).toEqual({ ignore: `note on ${state} mr` });
      const other = mrNote((p) => {
        p.merge_request.state = state;
        p.object_attributes.note = '@someone-else look';
      });
      expect(ignored(classify(NOTE, other, BOT))).toBe(`note on ${state} mr`);
      const asked = mrNote((p) => {
        p.merge_request.state = state;
        p.object_attributes.note = '@Reviewer-Bot why was this merged?';
      });
      const e = event(classify(NOTE, asked, BOT)) as NoteAdded;
      expect(e.mrState).toBe(state);
      expect(e.mentionsBot).toBe(true);
    }
    // locked (transient, while merging) behaves like open
    expect((event(classify(NOTE, mrNote((p) => (p.merge_request.state = 'locked')), BOT)) as NoteAdded).mrState).toBe(
      'locked',
    );
    expect(ignored(classify(NOTE, mrNote((p) => (p.merge_request.state = 'weird')), BOT))).toBe(
      'note on mr in state weird',
    );
  });

  it('fills mentionsBot / mentionsOthers from the note text', () => {
    const p = mrNote((p) => (p.object_attributes.note = '@reviewer-bot and @Alice, see `@carol` and mail dave@example.com'));
    const e = event(classify(NOTE, p, BOT)) as NoteAdded;
    expect(e.mentionsBot).toBe(true);
    expect(e.mentionsOthers).toEqual(['alice']);
  });

  it('headSha is optional', () => {
    const e = event(classify(NOTE, mrNote((p) => (p.merge_request.last_commit = null)), BOT)) as NoteAdded;
    expect(e.headSha).toBeUndefined();
    expect('headSha' in e).toBe(false);
  });

  it('Confidential Note Hook is handled like Note Hook (internal notes)', () => {
    const p = mrNote((p) => {
      p.event_type = 'confidential_note';
      p.object_attributes.internal = true;
    });
    expect(event(classify('Confidential Note Hook', p, BOT)).kind).toBe('note');
    expect(classify('Confidential Note Hook', fixture('note-issue.json'), BOT)).toEqual({ ignore: 'note on Issue' });
  });

  it('requires merge_request on a MergeRequest note', () => {
    expect(payloadError(NOTE, mrNote((p) => delete p.merge_request))).toBe(
      'invalid Note Hook payload: merge_request: expected object for a MergeRequest note',
    );
    expect(payloadError(NOTE, mrNote((p) => delete p.merge_request.iid))).toBe(
      'invalid Note Hook payload: merge_request.iid: expected number, got undefined',
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('malformed payloads → one-line PayloadError', () => {
  it.each([MR, NOTE, 'Confidential Note Hook'])('%s: non-object payloads', (h) => {
    expect(payloadError(h, [])).toBe(`invalid ${h} payload: expected object, got array`);
    expect(payloadError(h, [mrOpen()])).toBe(`invalid ${h} payload: expected object, got array`);
    expect(payloadError(h, 'merge_request')).toBe(`invalid ${h} payload: expected object, got string`);
    expect(payloadError(h, null)).toBe(`invalid ${h} payload: expected object, got null`);
    expect(payloadError(h, undefined)).toBe(`invalid ${h} payload: expected object, got undefined`);
    expect(payloadError(h, 42)).toBe(`invalid ${h} payload: expected object, got number`);
    expect(payloadError(h, true)).toBe(`invalid ${h} payload: expected object, got boolean`);
    expect(payloadError(h, {})).toMatch(new RegExp(`^invalid ${h} payload: object_kind: expected "(merge_request|note)", got undefined$`));
  });

  it('names the first bad field', () => {
    expect(payloadError(MR, mrOpen((p) => delete p.object_attributes.iid))).toBe(
      'invalid Merge Request Hook payload: object_attributes.iid: expected number, got undefined',
    );
    expect(payloadError(MR, mrOpen((p) => (p.object_attributes.iid = '1')))).toBe(
      'invalid Merge Request Hook payload: object_attributes.iid: expected number, got string',
    );
    expect(payloadError(MR, mrOpen((p) => (p.object_attributes.iid = 1.5)))).toBe(
      'invalid Merge Request Hook payload: object_attributes.iid: expected int, got non-integer number',
    );
    expect(payloadError(MR, mrOpen((p) => (p.project.id = '1')))).toBe(
      'invalid Merge Request Hook payload: project.id: expected number, got string',
    );
    expect(payloadError(MR, mrOpen((p) => delete p.project.path_with_namespace))).toMatch(
      /project\.path_with_namespace: expected string, got undefined$/,
    );
    expect(payloadError(MR, mrOpen((p) => delete p.object_attributes.action))).toMatch(
      /object_attributes\.action: expected string, got undefined$/,
    );
    expect(payloadError(MR, mrOpen((p) => (p.object_attributes.last_commit = { id: 7 })))).toMatch(
      /object_attributes\.last_commit\.id: expected string, got number$/,
    );
    expect(payloadError(MR, mrOpen((p) => (p.object_attributes.oldrev = 5)))).toMatch(/object_attributes\.oldrev: expected string/);
    expect(payloadError(MR, mrOpen((p) => (p.changes.draft = { previous: 'yes', current: false })))).toMatch(
      /changes\.draft\.previous: expected boolean, got string$/,
    );
    expect(payloadError(MR, mrOpen((p) => delete p.user))).toBe(
      'invalid Merge Request Hook payload: user: expected object, got undefined',
    );
    expect(payloadError(NOTE, mrNote((p) => (p.object_attributes.note = 5)))).toBe(
      'invalid Note Hook payload: object_attributes.note: expected string, got number',
    );
    expect(payloadError(NOTE, mrNote((p) => (p.object_attributes.id = null)))).toBe(
      'invalid Note Hook payload: object_attributes.id: expected number, got null',
    );
    expect(payloadError(NOTE, mrNote((p) => (p.object_attributes.author_id = '1')))).toMatch(/object_attributes\.author_id/);
    expect(payloadError(NOTE, mrNote((p) => (p.object_attributes.discussion_id = 12)))).toMatch(
      /object_attributes\.discussion_id: expected string, got number$/,
    );
    expect(payloadError(NOTE, mrNote((p) => delete p.user.id))).toBe(
      'invalid Note Hook payload: user.id: expected number, got undefined',
    );
    // even notes the bot would ignore must be well-formed
    expect(payloadError(NOTE, (() => { const p = fixture('note-issue.json'); p.object_attributes.id = 'x'; return p; })())).toMatch(
      /object_attributes\.id: expected number, got string$/,
    );
  });

  it('object_kind must match the header', () => {
    expect(payloadError(MR, mrNote())).toBe('invalid Merge Request Hook payload: object_kind: expected "merge_request", got "note"');
    expect(payloadError(NOTE, mrOpen())).toBe('invalid Note Hook payload: object_kind: expected "note", got "merge_request"');
    expect(payloadError('Confidential Note Hook', fixture('push.json'))).toBe(
      'invalid Confidential Note Hook payload: object_kind: expected "note", got "push"',
    );
    expect(payloadError(MR, mrOpen((p) => (p.object_kind = 'x\ny'.repeat(500))))).toMatch(/object_kind: expected "merge_request", got "x yx y.*…"$/);
  });

  it('survives huge nesting', () => {
    let deepArr: unknown = [];
    let deepObj: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) {
      deepArr = [deepArr];
      deepObj = { a: deepObj };
    }
    expect(payloadError(MR, deepArr)).toBe('invalid Merge Request Hook payload: expected object, got array');
    expect(payloadError(NOTE, deepObj)).toMatch(/^invalid Note Hook payload: object_kind: expected "note", got undefined$/);
    // deep data in a field the bot does not read passes through untouched
    expect(event(classify(MR, mrOpen((p) => (p.repository = deepObj)), BOT)).kind).toBe('review');
    // deep data where a scalar belongs is a type error
    expect(payloadError(MR, mrOpen((p) => (p.object_attributes.iid = deepObj)))).toMatch(
      /object_attributes\.iid: expected number, got object$/,
    );
    expect(payloadError(NOTE, mrNote((p) => (p.object_attributes.note = deepArr)))).toMatch(
      /object_attributes\.note: expected string, got array$/,
    );
  });

  it('JSON with __proto__ keys neither crashes nor pollutes', () => {
    const p = JSON.parse(
      JSON.stringify(mrOpen()).replace('"object_kind"', '"__proto__":{"polluted":1},"constructor":{"x":1},"object_kind"'),
    );
    expect(event(classify(MR, p, BOT)).kind).toBe('review');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------

describe('findMentions', () => {
  const bot = 'reviewer-bot';
  const m = (body: string) => findMentions(body, bot);

  it('finds the bot, word-bounded and case-insensitively', () => {
    expect(m('@reviewer-bot please look')).toEqual({ bot: true, others: [] });
    expect(m('hey @Reviewer-Bot')).toEqual({ bot: true, others: [] });
    expect(m('thanks @reviewer-bot.')).toEqual({ bot: true, others: [] });
    expect(m('thanks @reviewer-bot...')).toEqual({ bot: true, others: [] });
    expect(m('(@reviewer-bot)')).toEqual({ bot: true, others: [] });
    expect(m('cc:@reviewer-bot, ok?')).toEqual({ bot: true, others: [] });
    expect(m('line one\n@reviewer-bot\nline three')).toEqual({ bot: true, others: [] });
    expect(m('**@reviewer-bot**')).toEqual({ bot: true, others: [] });
  });

  it('does not match longer usernames or non-mentions', () => {
    expect(m('@reviewer-bot2 @reviewer-bot_x @reviewer-bots')).toEqual({
      bot: false,
      others: ['reviewer-bot2', 'reviewer-bot_x', 'reviewer-bots'],
    });
    expect(m('@reviewer-bot.name')).toEqual({ bot: false, others: ['reviewer-bot.name'] });
    expect(m('@reviewer-bot-')).toEqual({ bot: false, others: ['reviewer-bot-'] });
    expect(m('reviewer-bot without at')).toEqual({ bot: false, others: [] });
    expect(m('@ reviewer-bot')).toEqual({ bot: false, others: [] });
    expect(m('@@reviewer-bot')).toEqual({ bot: false, others: [] });
    expect(m('see https://gitlab.example/@reviewer-bot')).toEqual({ bot: false, others: [] });
  });

  it('ignores email addresses', () => {
    expect(m('mail reviewer-bot@example.com or a@reviewer-bot.com')).toEqual({ bot: false, others: [] });
    expect(m('first.last@reviewer-bot and x_y@reviewer-bot')).toEqual({ bot: false, others: [] });
  });

  it('ignores inline code', () => {
    expect(m('run `@reviewer-bot review` to ask')).toEqual({ bot: false, others: [] });
    expect(m('``a ` @reviewer-bot``')).toEqual({ bot: false, others: [] });
    expect(m('`x` @reviewer-bot `y`')).toEqual({ bot: true, others: [] });
    // an unmatched backtick is literal text
    expect(m('a ` @reviewer-bot')).toEqual({ bot: true, others: [] });
    // runs must match in length
    expect(m('``@reviewer-bot` still code``')).toEqual({ bot: false, others: [] });
  });

  it('ignores fenced code blocks', () => {
    expect(m('```\n@reviewer-bot\n```')).toEqual({ bot: false, others: [] });
    expect(m('```ts\nconst x = "@alice";\n```\n@bob')).toEqual({ bot: false, others: ['bob'] });
    expect(m('~~~\n@reviewer-bot\n~~~\nafter @reviewer-bot')).toEqual({ bot: true, others: [] });
    expect(m('````\n```\n@reviewer-bot\n````')).toEqual({ bot: false, others: [] });
    expect(m('- item\n  ```\n  @reviewer-bot\n  ```')).toEqual({ bot: false, others: [] });
    expect(m('> ```\n> @reviewer-bot\n> ```')).toEqual({ bot: false, others: [] });
    expect(m('```\r\n@reviewer-bot\r\n```\r\n')).toEqual({ bot: false, others: [] });
    // unclosed fence runs to the end
    expect(m('text\n```\n@reviewer-bot')).toEqual({ bot: false, others: [] });
  });

  it('others: lower-cased, deduplicated, bot excluded', () => {
    expect(m('@Alice @alice @ALICE @reviewer-bot @bob_1 @carol.d @x')).toEqual({
      bot: true,
      others: ['alice', 'bob_1', 'carol.d', 'x'],
    });
    expect(findMentions('@Reviewer-Bot @z', 'REVIEWER-BOT')).toEqual({ bot: true, others: ['z'] });
  });

  it('stays fast on a 1 MB adversarial note', () => {
    const t0 = performance.now();
    m('`'.repeat(1) + ' x ``'.repeat(200_000));
    m(' @' + '.'.repeat(1_000_000));
    m('```\n'.repeat(250_000));
    m('@a'.repeat(500_000));
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});
