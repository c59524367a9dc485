import { describe, expect, it } from 'vitest';
import { logContextFields, setLogSession, withJobLogContext } from '../src/log-context.js';

describe('job log context', () => {
  it('carries the session id a job chose to every later line of that job, and only that job', async () => {
    const seen: Record<string, string>[] = [];
    let releaseA!: () => void;
    const gateA = new Promise<void>((r) => (releaseA = r));
    // a sets its session, then waits while b runs with its own; a's later line still carries a's id
    const a = withJobLogContext(async () => {
      setLogSession('s-a');
      await gateA;
      seen.push(logContextFields());
    });
    const b = withJobLogContext(async () => {
      seen.push(logContextFields());
      setLogSession('s-b');
      seen.push(logContextFields());
      releaseA();
    });
    await Promise.all([a, b]);
    expect(seen).toEqual([{}, { sessionId: 's-b' }, { sessionId: 's-a' }]);
  });

  it('outside a job, setting a session does nothing and lines carry no extra field', () => {
    setLogSession('stray');
    expect(logContextFields()).toEqual({});
  });
});
