import { describe, expect, it } from 'vitest';
import { ClaudeError, interpret, type ProcessOutcome } from '../src/claude/result.js';

const out = (raw: object, o: Partial<ProcessOutcome> = {}): ProcessOutcome => ({ stdout: JSON.stringify(raw), stderr: '', exitCode: 0, timedOut: false, wantStructured: false, ...o });
const ok = { type: 'result', subtype: 'success', is_error: false, result: 'Done.', session_id: 's-1', total_cost_usd: 0.02, usage: { input_tokens: 10 }, num_turns: 2, duration_ms: 1500, modelUsage: { 'claude-sonnet-4-5': {} } };

function errorOf(p: ProcessOutcome): ClaudeError {
  try {
    interpret(p);
  } catch (e) {
    if (e instanceof ClaudeError) return e;
    throw e;
  }
  throw new Error('interpret did not throw');
}

describe('interpret', () => {
  it('reads a successful result: session, text, structured output, cost, usage and the model', () => {
    const r = interpret(out({ ...ok, structured_output: { summary: 's' } }, { wantStructured: true }));
    expect(r).toMatchObject({ sessionId: 's-1', text: 'Done.', structured: { summary: 's' }, costUsd: 0.02, usage: { input_tokens: 10 }, numTurns: 2, durationMs: 1500, permissionDenials: [], model: 'claude-sonnet-4-5' });
  });

  it('takes the result out of --verbose output (an array) and out of lines of noise', () => {
    expect(interpret(out([{ type: 'system' }, ok])).text).toBe('Done.');
    expect(interpret({ ...out(ok), stdout: `warning: something\n${JSON.stringify(ok)}\n` }).text).toBe('Done.');
  });

  it('tells the failures apart by subtype and is_error, keeping cost and session', () => {
    expect(errorOf(out({ ...ok, subtype: 'error_max_budget_usd', errors: ['over budget'] }))).toMatchObject({ kind: 'budget', message: 'over budget', details: { costUsd: 0.02, sessionId: 's-1' } });
    expect(errorOf(out({ ...ok, subtype: 'error_max_turns' })).kind).toBe('max_turns');
    expect(errorOf(out({ ...ok, subtype: 'error_max_structured_output_retries' })).kind).toBe('schema');
    const api = errorOf(out({ ...ok, is_error: true, api_error_status: 529, result: 'Overloaded.\nmore detail' }, { exitCode: 1 }));
    expect(api).toMatchObject({ kind: 'api', message: 'Overloaded.', details: { status: 529 } });
  });

  it('asks for the structured output when the caller wants one', () => {
    expect(errorOf(out(ok, { wantStructured: true })).kind).toBe('schema');
    expect(interpret(out(ok)).structured).toBeUndefined();
  });

  it('without a result: a timeout, a missing or busy session, a signal, or a crash with the first line that says why', () => {
    const none = (o: Partial<ProcessOutcome>) => errorOf({ stdout: '', stderr: '', exitCode: 1, timedOut: false, wantStructured: false, ...o });
    expect(none({ timedOut: true }).kind).toBe('timeout');
    expect(none({ stderr: 'No conversation found with session ID: abc\n' })).toMatchObject({ kind: 'session_missing', message: 'No conversation found with session ID: abc' });
    expect(none({ stderr: 'Session ID abc is already in use.' }).kind).toBe('session_in_use');
    expect(none({ signal: 'SIGKILL' })).toMatchObject({ kind: 'killed', message: 'claude was killed by SIGKILL' });
    expect(none({ stderr: 'Error: boom\n  at x' })).toMatchObject({ kind: 'crash', message: 'claude printed no result: Error: boom' });
    expect(none({ exitCode: 3 }).message).toBe('claude printed no result: exit code 3');
  });
});

describe('ClaudeError.transient', () => {
  it('retries overloads, rate limits, 5xx, timeouts, signals, crashes and a busy session; not 4xx, budget or a missing session', () => {
    for (const status of [undefined, 408, 409, 429, 500, 529]) expect(new ClaudeError('api', 'x', { status }).transient).toBe(true);
    for (const status of [400, 401, 403, 404]) expect(new ClaudeError('api', 'x', { status }).transient).toBe(false);
    for (const kind of ['timeout', 'killed', 'session_in_use', 'crash', 'schema'] as const) expect(new ClaudeError(kind, 'x').transient).toBe(true);
    for (const kind of ['budget', 'max_turns', 'session_missing'] as const) expect(new ClaudeError(kind, 'x').transient).toBe(false);
  });
});
