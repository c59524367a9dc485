// The formats are read back by other processes (a restart, another replica): a change here is a migration.
import { describe, expect, it } from 'vitest';
import { dedupeKey, lane, lockKey, recordKey, recordPrefix, redisKey } from '../src/keys.js';

describe('key formats', () => {
  it('store records, and the prefixes that select them by kind', () => {
    expect(recordKey.mr(1, 2)).toBe('mr:1:2');
    expect(recordKey.thread(1, 2, 'abc')).toBe('thread:1:2:abc');
    expect(recordKey.questions(1, 2, 7, '2025-01-31')).toBe('questions:1:2:7:2025-01-31');
    expect(recordKey.failure('2025-01-31T00:00:00Z', 'j1')).toBe('failure:2025-01-31T00:00:00Z:j1');
    expect(recordKey.mr(1, 2).startsWith(recordPrefix.mr)).toBe(true);
    expect(recordKey.thread(1, 2, 'abc').startsWith(recordPrefix.thread(1, 2))).toBe(true);
    expect(recordKey.thread(1, 22, 'abc').startsWith(recordPrefix.thread(1, 2))).toBe(false);
    expect(recordKey.thread(1, 2, 'abc').startsWith(recordPrefix.thread())).toBe(true);
    expect(recordKey.failure('t', 'j').startsWith(recordPrefix.failure)).toBe(true);
  });

  it('lanes: one per MR trunk and one per thread, never the same', () => {
    expect(lane.mr(1, 2)).toBe('mr:1:2');
    expect(lane.thread(1, 2, 'abc')).toBe('thread:1:2:abc');
    expect(lane.thread(1, 2, 'abc')).not.toBe(lane.mr(1, 2));
  });

  it('dedupe keys: deliveries, heads, ready events, notes (edits by text), commands and failure notes', () => {
    expect(dedupeKey.delivery('idem:x')).toBe('delivery:idem:x');
    expect(dedupeKey.head(1, 2, 'sha')).toBe('head:1:2:sha');
    expect(dedupeKey.ready(1, 2, 'sha')).toBe('ready:1:2:sha');
    expect(dedupeKey.note(5)).toBe('note:5');
    expect(dedupeKey.note(5, 'h')).toBe('note:5:h');
    expect(dedupeKey.command(5)).toBe('cmd:5');
    expect(dedupeKey.notify('j1')).toBe('notify:j1');
  });

  it('locks and Redis keys, each under the deployment prefix', () => {
    expect(lockKey.repo(3)).toBe('repo:3');
    expect(lockKey.record('mr:1:2')).toBe('record:mr:1:2');
    expect(redisKey.session('p', 's1')).toBe('p:session:s1');
    expect(redisKey.lock('p', 'repo:3')).toBe('p:lock:repo:3');
    expect(redisKey.queue('p', 'jobs', 'lane', 'mr:1:2')).toBe('p:jobs:mrr:lane:mr:1:2');
  });
});
