// The stand-in runs quick actions and records mentions like GitLab (cases from GitLab's own extractor and pipeline specs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractCommands, extractMentions } from '../standins/gitlab/quick-actions.js';
import { startGitlabStandin, type GitlabStandin, type StandinProject } from '../standins/gitlab.js';

describe('extract_commands', () => {
  it.each([
    ['hello\n/labels ~foo ~"bar baz"\nworld', [['labels', '~foo ~"bar baz"']], 'hello\nworld'],
    ['/close', [['close']], ''],
    ['/CLOSE\r\n/approve\n', [['close'], ['approve']], ''],
    ['Lorem ipsum\n/merge\n/approve\n\n>>>\n/close\n>>>\n\n/unapprove', [['merge'], ['approve'], ['unapprove']], 'Lorem ipsum\n>>>\n/close\n>>>'], // the paragraph takes its next blank line, `\s*\n` eats it
    ['<!-- HTML comment -->\n/close\n\n> a blockquote', [['close']], '<!-- HTML comment -->\n> a blockquote'],
    ['```\n/close\n```', [], '```\n/close\n```'],
    ['~~~sh\n/merge\n~~~\ntext', [], '~~~sh\n/merge\n~~~\ntext'],
    ['> /close', [], '> /close'],
    ['- item\n/close', [], '- item\n/close'],
    ['<!--\n/close\n-->', [], '<!--\n/close\n-->'],
    ['<details>\n/close\n</details>', [], '<details>\n/close\n</details>'],
    ['a `b\n/close c`', [], 'a `b\n/close c`'],
    ['`/close`', [], '`/close`'],
    ['    /close', [], '    /close'],
    [' /close', [], ' /close'],
    ['\\/close', [], '\\/close'],
    ['\u200b/close', [], '\u200b/close'],
    ['/closes the bug', [], '/closes the bug'],
    ['text\n\n/assign @alice\n/spend 1h', [['assign', '@alice'], ['spend', '1h']], 'text'],
  ] as [string, string[][], string][])('%j', (body, commands, content) => {
    const r = extractCommands(body);
    expect(r.commands).toEqual(commands);
    expect(r.content).toBe(content);
  });

  it('finds mentions outside code only', () => {
    expect(extractMentions('hi @all and @group/sub, mail a@b.c\n`@here`\n```\n@bob\n```\n@alice.')).toEqual(['all', 'group/sub', 'alice']);
  });
});

describe('the stand-in runs quick actions as the note author', () => {
  let g: GitlabStandin;
  let p: StandinProject;
  beforeAll(async () => {
    g = await startGitlabStandin();
    g.addUser({ id: 7, username: 'alice' });
    p = await g.createProject('acme/qa', { 'a.txt': 'a\n' });
    await g.commit(p, 'f', { 'a.txt': 'b\n' });
  });
  afterAll(async () => g?.close());

  const post = (path: string, body: string) =>
    fetch(`${g.url}/api/v4/projects/${p.id}/merge_requests/${path}`, {
      method: 'POST', headers: { 'private-token': g.token, 'content-type': 'application/json' }, body: JSON.stringify({ body }),
    });

  it('changes the MR, strips the commands from the stored body, and records mentions', async () => {
    const { iid } = await g.createMr(p, { sourceBranch: 'f', title: 'qa' });
    const r = await post(`${iid}/notes`, 'Looks fine.\n/approve\n/label ~security ~"needs work"\n/assign @alice\n\ncc @all');
    expect(r.status).toBe(201);
    expect(((await r.json()) as { body: string }).body).toBe('Looks fine.\ncc @all');
    const a = g.mrActivity(p, iid);
    expect(a).toMatchObject({ state: 'opened', approvedBy: ['review-bot'], labels: ['security', 'needs work'], assignees: ['alice'] });
    expect(a.executed.map((e) => [e.user, e.command])).toEqual([['review-bot', 'approve'], ['review-bot', 'label'], ['review-bot', 'assign']]);
    expect(a.notifications).toEqual([expect.objectContaining({ user: 'review-bot', mention: 'all', kind: 'all' })]);
  });

  it('saves no note for a body of only commands (202), and runs commands in replies and edits', async () => {
    const { iid } = await g.createMr(p, { sourceBranch: 'f', title: 'qa2' });
    const r = await post(`${iid}/discussions`, 'a thread');
    const d = (await r.json()) as { id: string };
    expect((await post(`${iid}/discussions/${d.id}/notes`, '/merge')).status).toBe(202);
    expect(g.mr(p, iid).state).toBe('merged');
    g.addNote(p, iid, 7, 'x');
    const own = g.notes(p, iid).find((n) => n.body === 'x')!;
    expect(g.editNote(p, iid, own.id, 'x\n/draft')?.body).toBe('x');
    expect(g.mrActivity(p, iid)).toMatchObject({ draft: true, executed: [{ user: 'review-bot', command: 'merge' }, { user: 'alice', command: 'draft' }] });
  });
});
