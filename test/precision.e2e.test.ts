// Issue #20 end to end: the real CLI and the model stand-in scripted to produce each kind of false positive.
// None of them reaches GitLab; the true findings still do, and the summary counts what was dropped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMarker } from '../src/gitlab/markers.js';

import { ALICE, BOT, finding, reviewOutput, startHarness, waitFor, type Harness } from '../standins/harness.js';

const BASE = {
  'CLAUDE.md': '# Rules\n- Money amounts are integers in cents; never use floats for money.\n',
  'src/REVIEW.md': 'Code under src/ must not call eval on user input.\n',
  'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n',
};
const CHANGE = {
  'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n\nexport function div(a, b) {\n  return a / b;\n}\n',
  'src/price.js': 'export function total(items) {\n  let sum = 0.0;\n  for (const i of items) sum += i.price * 1.1;\n  return sum;\n}\n',
  'src/run.js': '// eslint-disable-next-line no-eval\nexport const run = (s) => eval(s);\n',
};

const summaryOf = (h: Harness, project: { id: number }, iid: number) => h.gitlab.notes(project as never, iid).find((n) => readMarker(n.body)?.kind === 'summary');
const findingNotes = (h: Harness, project: { id: number }, iid: number) => h.gitlab.notes(project as never, iid).filter((n) => readMarker(n.body)?.kind === 'finding');

describe('review precision, end to end', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ VERIFY_FINDINGS: 'true' });
  });
  afterAll(async () => h?.close());

  async function mr(path: string, opts: { description?: string; config?: string } = {}) {
    const project = await h.gitlab.createProject(path, { ...BASE, ...(opts.config ? { '.gitlab/mr-reviewer.yml': opts.config } : {}) });
    const issue = h.gitlab.createIssue(project, { title: 'ISSUE-TITLE Division helper', description: 'ISSUE-BODY we need div for the report' });
    await h.gitlab.commit(project, 'feature', CHANGE, 'COMMIT-MSG add div, total and run\n\nThe totals are shown to users.');
    const m = await h.gitlab.createMr(project, { sourceBranch: 'feature', title: 'Add helpers', description: opts.description ?? `Closes #${issue.iid}. Prices may be rounded later.`, authorId: ALICE.id });
    h.gitlab.addNote(project, m.iid, ALICE.id, 'HUMAN-COMMENT please look at the rounding');
    return { project, mr: m };
  }

  async function review(project: { id: number }, iid: number) {
    await h.send(h.gitlab.mrHook(project as never, iid, 'open'));
    await waitFor(() => summaryOf(h, project, iid), 90_000, 'summary');
    await h.bot.queue.drained();
  }

  it('drops invented quotes, uncited rules, lint-suppressed and style findings in code; posts the true one with its suggestion', async () => {
    const { project, mr: m } = await mr('acme/checks');
    const TRUE = finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'TRUE-DIV', suggestion: '  if (b === 0) throw new RangeError("b is 0");\n  return a / b;' });
    const FAKE_QUOTE = finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'FP-FAKE-QUOTE', category: 'security', evidence: ['src/math.js:6: return a / sanitize(b);'] });
    const INVENTED_RULE = finding({ file: 'src/price.js', start_line: 2, anchor_text: '  let sum = 0.0;', title: 'FP-INVENTED-RULE', category: 'rule_violation', rule: { source: 'CLAUDE.md', quote: 'Variables must be declared with const' } });
    const SUPPRESSED = finding({ file: 'src/run.js', start_line: 2, anchor_text: 'export const run = (s) => eval(s);', title: 'FP-SUPPRESSED no-eval', category: 'security', body: 'no-eval: eval of a string.' });
    const STYLE = finding({ file: 'src/price.js', start_line: 4, anchor_text: '  return sum;', title: 'FP-STYLE', category: 'style' });
    h.model.script(
      { structured: reviewOutput([TRUE, FAKE_QUOTE, INVENTED_RULE, SUPPRESSED, STYLE]) },
      { structured: { verdicts: [{ id: 1, verdict: 'confirmed', evidence: 'src/math.js:6: return a / b;', suggestion_ok: true }] } },
    );
    const start = h.model.requests.length;
    await review(project, m.iid);

    const posted = findingNotes(h, project, m.iid);
    expect(posted.map((n) => n.body.match(/\*\*(TRUE-\w+|FP-[\w-]+)/)?.[1])).toEqual(['TRUE-DIV']);
    expect(posted[0]!.body).toContain('```suggestion:-0+0\n  if (b === 0) throw new RangeError("b is 0");');
    const summary = summaryOf(h, project, m.iid)!.body;
    expect(summary).toContain('| **Dropped** | 4 findings (1 quote not found in the code, 1 project rule not quoted from a guidance file, 2 lint-owned or lint-suppressed) |');
    expect(summary).toContain(`${h.gitlab.mr(project, m.iid).webUrl}#note_${posted[0]!.id}`);
    expect(summary).toContain('| **Guidance applied** | `CLAUDE.md`, `src/REVIEW.md` |');
    expect(summary).toContain('Risk levels: low:');

    // Only the finding that survived the checks in code went to the verifier, with the whole finding.
    const [trunk, verify] = h.model.requests.slice(start);
    expect(verify!.lastUserText).toContain('TRUE-DIV');
    expect(verify!.lastUserText).not.toContain('FP-');
    expect(verify!.lastUserText).toContain('anchor_text:   return a / b;');
    expect(verify!.lastUserText).toContain('  if (b === 0) throw new RangeError("b is 0");');
    expect(verify!.lastUserText).toContain('Prices may be rounded later.');
    // What the reviewer was given: intent, history, nested guidance (trusted, in the system prompt), today's date.
    for (const s of ['ISSUE-TITLE Division helper', 'ISSUE-BODY we need div', '(closed by this MR)', 'COMMIT-MSG add div', 'HUMAN-COMMENT please look', `Today's date is ${new Date().toISOString().slice(0, 10)}`]) expect(trunk!.lastUserText).toContain(s);
    expect(trunk!.lastUserText).toMatch(/<mr_discussions>\n@alice: HUMAN-COMMENT/);
    expect(trunk!.system).toContain('# src/REVIEW.md (applies to src/)\nCode under src/ must not call eval');
    expect(trunk!.system).toContain('Do NOT report (these are false positives)');
  });

  it('the verifier drops intended behaviour, "does not exist" claims and generic "add tests"; keeps cited rules; bad suggestions go, findings stay', async () => {
    const { project, mr: m } = await mr('acme/verifier', { description: 'Closes #1. Division by zero returns Infinity on purpose (INTENDED).' });
    const RULE = finding({ file: 'src/price.js', start_line: 3, anchor_text: '  for (const i of items) sum += i.price * 1.1;', title: 'TRUE-RULE float money', category: 'rule_violation', rule: { source: 'CLAUDE.md', quote: 'never use floats for money' }, suggestion: '  for (const i of items) sum += Math.round(i.price * 110) / 100;' });
    const INTENT = finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'FP-INTENT Infinity on zero' });
    const VERSION = finding({ file: 'src/run.js', start_line: 2, anchor_text: 'export const run = (s) => eval(s);', title: 'FP-VERSION API does not exist', category: 'api_contract' });
    const TESTS = finding({ file: 'src/price.js', start_line: 4, anchor_text: '  return sum;', title: 'FP-TESTS add tests', category: 'tests' });
    const NUMBERED = finding({ file: 'src/price.js', start_line: 2, anchor_text: '  let sum = 0.0;', title: 'TRUE-NUMBERED start', category: 'data_loss', suggestion: '2 +  let sum = 0;' });
    h.model.script(
      { structured: reviewOutput([RULE, INTENT, VERSION, TESTS, NUMBERED]) },
      { structured: { verdicts: [
        { id: 1, verdict: 'confirmed', evidence: 'src/price.js:3: i.price * 1.1', suggestion_ok: false },
        { id: 2, verdict: 'refuted', evidence: 'the description says Infinity is intended', suggestion_ok: true },
        { id: 3, verdict: 'refuted', evidence: 'a newer API than my cut-off', suggestion_ok: true },
        { id: 4, verdict: 'refuted', evidence: 'no failing input named', suggestion_ok: true },
        { id: 5, verdict: 'confirmed', evidence: 'src/price.js:2: let sum = 0.0;', suggestion_ok: true },
      ] } },
    );
    await review(project, m.iid);
    const posted = findingNotes(h, project, m.iid);
    expect(posted.map((n) => n.body.match(/\*\*(TRUE-\w+|FP-[\w-]+)/)?.[1]).sort()).toEqual(['TRUE-NUMBERED', 'TRUE-RULE']);
    for (const n of posted) expect(n.body).not.toContain('```suggestion');
    expect(posted.find((n) => n.body.includes('TRUE-RULE'))!.body).toContain('**Rule** in `CLAUDE.md`: “never use floats for money”');
    const summary = summaryOf(h, project, m.iid)!.body;
    expect(summary).toContain('2 of 5 new candidates confirmed');
    expect(summary).toContain('| **Dropped** | 3 findings (3 not confirmed by the verifier); 1 suggestion removed (would not apply cleanly) |');
    const verify = h.model.requests[h.model.requests.length - 1]!;
    expect(verify.lastUserText).toContain('INTENDED');
    expect(verify.lastUserText).toContain('cited rule: "never use floats for money" (CLAUDE.md)');

    // A reply in a thread may carry a suggestion block when the answer is a code change; a bad one is dropped.
    const thread = h.gitlab.discussions(project, m.iid).find((d) => d.notes[0]!.body.includes('TRUE-NUMBERED'))!;
    h.model.script({ structured: { reply: 'REPLY-WITH-SUGGESTION Start from an integer.', verdict: 'fix_needed', suggestion: '  let sum = 0;' } });
    const { note, discussion } = h.gitlab.addNote(project, m.iid, ALICE.id, 'How should I write it?', { discussionId: thread.id });
    await h.send(h.gitlab.noteHook(project, m.iid, note, discussion));
    const reply = await waitFor(() => h.gitlab.discussions(project, m.iid).find((d) => d.id === thread.id)!.notes.find((n) => n.author.id === BOT.id && n.body.includes('REPLY-WITH-SUGGESTION')), 90_000, 'reply');
    expect(reply.body).toContain('```suggestion:-0+0\n  let sum = 0;\n```');
  });

  it('a fix check resolves a thread only when it quotes a fixing line that is in the code; pre-existing items stay listed across pushes', async () => {
    const { project, mr: m } = await mr('acme/fixcheck');
    const OLD = finding({ file: 'src/math.js', start_line: 2, anchor_text: '  return a + b;', title: 'PRE-EXISTING-ADD', pre_existing: true });
    h.model.script(
      { structured: reviewOutput([finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'FIX-DIV' }), OLD]) },
      { structured: { verdicts: [{ id: 1, verdict: 'confirmed', evidence: 'src/math.js:6: return a / b;' }] } },
    );
    await review(project, m.iid);
    // The model claims a fix, quoting a line that the push did not write.
    h.model.respond((req) => (req.lastUserText.includes('Is your concern addressed?') ? { structured: { addressed: true, reply: 'CLAIMED-FIX', fixed_by: 'src/math.js:6: if (b === 0) return 0;' } } : undefined));
    h.model.script({ structured: reviewOutput([], 'AFTER-PUSH') });
    const oldrev = h.gitlab.mr(project, m.iid).headSha;
    await h.gitlab.commit(project, 'feature', { 'src/math.js': CHANGE['src/math.js'].replace('  return a / b;', '  if (b === 0) throw new RangeError("b");\n  return a / b;') }, 'guard b');
    await h.send(h.gitlab.mrHook(project, m.iid, 'update', { oldrev }));
    await waitFor(async () => (await h.bot.deps.store.getMr(project.id, m.iid))?.reviewedSha === h.gitlab.mr(project, m.iid).headSha, 90_000, 'update');
    await h.bot.queue.drained();
    h.model.respond(() => undefined);
    const thread = h.gitlab.discussions(project, m.iid).find((d) => d.notes[0]!.body.includes('FIX-DIV'))!;
    expect(thread.notes.some((n) => n.body.includes('CLAIMED-FIX'))).toBe(false);
    expect(thread.notes[0]!.resolved).toBe(false);
    expect(h.logs.some((l) => l.includes('fix check quoted no fixing line found in the code'))).toBe(true);
    // The push's review did not repeat the pre-existing item; the summary still lists it.
    expect(summaryOf(h, project, m.iid)!.body).toContain('AFTER-PUSH');
    expect(summaryOf(h, project, m.iid)!.body).toMatch(/Pre-existing issues[\s\S]*`src\/math.js:2` 🟠 Major: PRE-EXISTING-ADD/);
  });

  it('a failing verifier holds the new findings back when the repo says so', async () => {
    const { project, mr: m } = await mr('acme/hold', { config: 'on_verification_failure: hold\n' });
    h.model.script(
      { structured: reviewOutput([finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'HELD-DIV' })]) },
      { error: { status: 400, message: 'bad request' } },
    );
    await review(project, m.iid);
    expect(findingNotes(h, project, m.iid)).toHaveLength(0);
    expect(summaryOf(h, project, m.iid)!.body).toContain('the verification pass failed: 1 new finding held back until the next review');

    // The next review verifies the held finding again (the model did not repeat it); confirmed, it is posted.
    h.model.script(
      { structured: reviewOutput([], 'NEXT-REVIEW') },
      { structured: { verdicts: [{ id: 1, verdict: 'confirmed', evidence: 'src/math.js:6: return a / b;' }] } },
    );
    const oldrev = h.gitlab.mr(project, m.iid).headSha;
    await h.gitlab.commit(project, 'feature', { 'README.md': 'docs\n' }, 'docs');
    await h.send(h.gitlab.mrHook(project, m.iid, 'update', { oldrev }));
    await waitFor(() => summaryOf(h, project, m.iid)!.body.includes('NEXT-REVIEW'), 90_000, 'the next review');
    await h.bot.queue.drained();
    expect(h.model.requests.at(-1)!.lastUserText).toContain('HELD-DIV');
    expect(findingNotes(h, project, m.iid).map((n) => n.body.includes('**HELD-DIV**'))).toEqual([true]);
    expect((await h.bot.deps.store.getMr(project.id, m.iid))!.held).toBeUndefined();
  });
});

