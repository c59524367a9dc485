// The keyv adapter on better-sqlite3, through keyv itself (namespaces, TTLs and iteration are keyv's side of it).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Keyv from 'keyv';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteKeyvStore } from '../src/store/sqlite-adapter.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-kv-'));
const adapters: SqliteKeyvStore[] = [];
afterAll(async () => {
  for (const a of adapters) await a.disconnect().catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(name: string, namespace = 'mrr') {
  const adapter = new SqliteKeyvStore(path.join(dir, name));
  adapters.push(adapter);
  return { adapter, kv: new Keyv({ store: adapter, namespace }) };
}

describe('SqliteKeyvStore', () => {
  it('stores, reads, overwrites and deletes values, which outlive the process (the file)', async () => {
    const { adapter, kv } = open('a.sqlite');
    await kv.set('mr:1:2', { n: 1 });
    await kv.set('mr:1:2', { n: 2 });
    expect(await kv.get('mr:1:2')).toEqual({ n: 2 });
    expect(await kv.has('mr:1:2')).toBe(true);
    await kv.set('gone', 'x');
    expect(await kv.delete('gone')).toBe(true);
    expect(await kv.delete('gone')).toBe(false);
    await adapter.disconnect();
    const again = open('a.sqlite');
    expect(await again.kv.get('mr:1:2')).toEqual({ n: 2 });
  });

  it('lists one namespace in key order, and clears only its own namespace', async () => {
    const a = open('b.sqlite', 'one');
    const b = new Keyv({ store: new SqliteKeyvStore(path.join(dir, 'b.sqlite')), namespace: 'two' });
    adapters.push(b.opts.store as SqliteKeyvStore);
    await a.kv.set('thread:1', 1);
    await a.kv.set('mr:1', 2);
    await b.set('mr:9', 9);
    const keys: unknown[] = [];
    for await (const [k] of a.kv.iterator!(a.kv.namespace)) keys.push(k);
    expect(keys).toEqual(['mr:1', 'thread:1']);
    await a.kv.clear();
    expect(await a.kv.get('mr:1')).toBeUndefined();
    expect(await b.get('mr:9')).toBe(9);
  });

  it('expires values with a TTL (keyv checks the expiry it stored)', async () => {
    const { kv } = open('c.sqlite');
    await kv.set('short', 'v', 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(await kv.get('short')).toBeUndefined();
  });

  it('gives back the WAL space on checkpoint', async () => {
    const { adapter, kv } = open('d.sqlite');
    for (let i = 0; i < 200; i++) await kv.set(`k${i}`, 'x'.repeat(1000));
    const wal = path.join(dir, 'd.sqlite-wal');
    expect(fs.statSync(wal).size).toBeGreaterThan(0);
    adapter.checkpoint();
    expect(fs.statSync(wal).size).toBe(0);
  });
});
