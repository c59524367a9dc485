import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { setLogSession, withJobLogContext } from '../src/log-context.js';
import { createLogger } from '../src/logger.js';
import { makeRedactor } from '../src/redact.js';

function capture(level = 'info') {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _e, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { lines, log: createLogger({ level, redact: makeRedactor(['glpat-secret-token-1']), destination }) };
}

describe('createLogger', () => {
  it('writes JSON lines with the level as a word, the service and an ISO time', () => {
    const { lines, log } = capture();
    log.info({ job: 'j1' }, 'job started');
    log.debug('not at info');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', service: 'mr-reviewer', job: 'j1', msg: 'job started', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
  });

  it('passes every line through the redactor, error messages included, and censors token fields', () => {
    const { lines, log } = capture();
    log.error({ err: 'GET failed with glpat-secret-token-1' }, 'call failed for glpat-secret-token-1');
    log.info({ token: 'anything', headers: { 'x-gitlab-token': 'hook' } }, 'request');
    expect(lines.join('\n')).not.toContain('glpat-secret-token-1');
    expect(JSON.parse(lines[0]!)).toMatchObject({ err: 'GET failed with [redacted]', msg: 'call failed for [redacted]' });
    expect(JSON.parse(lines[1]!)).toMatchObject({ token: '[redacted]', headers: { 'x-gitlab-token': '[redacted]' } });
  });

  it("adds the job's session id to its lines once the job chose it", async () => {
    const { lines, log } = capture();
    await withJobLogContext(async () => {
      log.info('before');
      setLogSession('s-42');
      log.info('after');
    });
    expect(lines.map((l) => JSON.parse(l).sessionId)).toEqual([undefined, 's-42']);
  });
});
