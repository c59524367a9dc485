// One contract per model output: the schema the CLI receives is generated from the zod schema the flows parse with.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMarker } from '../src/gitlab/markers.js';
import {
  fixCheckOutputSchema,
  MAX_FINDINGS,
  parseTurn,
  replyOutputSchema,
  reviewOutputSchema,
  toCliSchema,
  TURN_SCHEMA,
  VERIFY_SCHEMA,
  verifyOutputSchema,
} from '../src/review/outputs.js';
import { finding, reviewOutput, sampleMr, startHarness, waitFor, type Harness } from '../standins/harness.js';

const props = (s: Record<string, unknown>) => s.properties as Record<string, unknown>;

describe('output contracts', () => {
  it('the shared turn schema carries each turn\'s fields exactly as its own schema defines them', () => {
    for (const schema of [reviewOutputSchema, fixCheckOutputSchema]) {
      for (const [k, v] of Object.entries(props(toCliSchema(schema)))) expect(props(TURN_SCHEMA)[k], k).toEqual(v);
    }
    // `reply` is shared by thread and fix-check turns; the thread turn only adds that it must not be empty.
    expect(props(toCliSchema(replyOutputSchema)).verdict).toEqual(props(TURN_SCHEMA).verdict);
    expect(TURN_SCHEMA).toMatchObject({ type: 'object', additionalProperties: false });
    expect(TURN_SCHEMA.required).toBeUndefined(); // each turn's parse says what it needs
    expect(VERIFY_SCHEMA).toEqual(toCliSchema(verifyOutputSchema));
    expect(JSON.stringify(TURN_SCHEMA)).not.toContain('$schema');
  });

  it('parses what the schema allows, with fallbacks for what the shared schema lets the model leave out', () => {
    const f = finding({ file: 'a.js', start_line: 1, anchor_text: 'x' });
    const { side: _s, pre_existing: _p, evidence: _e, ...bare } = f;
    const out = parseTurn(reviewOutputSchema, { summary: 's', findings: [bare] }, 'review');
    expect(out.findings[0]).toMatchObject({ side: 'new', pre_existing: false, evidence: [] });
    expect(parseTurn(replyOutputSchema, { reply: 'r' }, 'reply').verdict).toBe('answered');
  });

  it('rejects what the CLI would reject, naming the field', () => {
    const f = finding({ file: 'a.js', start_line: 1, anchor_text: 'x' });
    expect(() => parseTurn(reviewOutputSchema, reviewOutput(Array(MAX_FINDINGS + 1).fill(f)), 'review')).toThrow(/review output invalid: findings/);
    expect(() => parseTurn(reviewOutputSchema, reviewOutput([{ ...f, confidence: 150 }]), 'review')).toThrow(/confidence/);
    expect(() => parseTurn(reviewOutputSchema, reviewOutput([{ ...f, confidence: 90.5 }]), 'review')).toThrow(/confidence/);
    expect(() => parseTurn(reviewOutputSchema, reviewOutput([{ ...f, extra: 1 } as never]), 'review')).toThrow();
    expect(() => parseTurn(replyOutputSchema, { reply: '' }, 'reply')).toThrow(/reply output invalid/);
    expect(() => parseTurn(fixCheckOutputSchema, { reply: 'x' }, 'fix check')).toThrow(/addressed/);
  });
});

describe('the CLI validates against the same contract', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  it('sends the generated schema as the StructuredOutput tool, and rejects an answer the zod schema rejects', async () => {
    const { project, mr } = await sampleMr(h);
    const f = finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'Division by zero' });
    // Too many findings: the CLI itself must refuse it (tool_result error) and ask again; the second answer is valid.
    h.model.script({ structured: reviewOutput(Array(MAX_FINDINGS + 1).fill(f)) }, { structured: reviewOutput([f]) });
    expect((await h.send(h.gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    await waitFor(() => h.gitlab.notes(project, mr.iid).some((n) => readMarker(n.body)?.kind === 'summary'), 120_000, 'summary');
    await h.bot.queue.drained();

    const [first, second] = h.model.requests;
    const tool = first!.body.tools.find((t: { name: string }) => t.name === 'StructuredOutput');
    expect(tool.input_schema).toEqual(TURN_SCHEMA);
    expect(second!.lastUserText).toMatch(/does not match required schema/i);
    expect(h.gitlab.notes(project, mr.iid).filter((n) => readMarker(n.body)?.kind === 'finding')).toHaveLength(1);
  });
});
