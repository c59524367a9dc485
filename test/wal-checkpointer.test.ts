// WalCheckpointer: SQLite's checkpoints moved off the event loop, onto a worker thread with its own connection.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { WalCheckpointer } from '../src/jobs/wal-checkpointer.js';

const dirs: string[] = [];
const closers: (() => unknown)[] = [];

afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tmpFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-ckpt-'));
  dirs.push(dir);
  return path.join(dir, 'db.sqlite');
}

async function until(fn: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('WalCheckpointer', () => {
  it('copies the WAL into the database file once enough commits piled up, not before', async () => {
    const file = tmpFile();
    const db = new Database(file);
    closers.push(() => db.close());
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t (v TEXT)');
    const failures: unknown[] = [];
    const cp = new WalCheckpointer({ file, everyCommits: 3, intervalMs: 60_000, onFailed: (e) => failures.push(e) });
    closers.push(() => cp.close());
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    for (let i = 0; i < 100; i++) insert.run('x'.repeat(20_000));
    const before = fs.statSync(file).size;
    expect(fs.statSync(`${file}-wal`).size).toBeGreaterThan(1_000_000); // everything is still in the WAL
    cp.wrote();
    cp.wrote();
    await new Promise((r) => setTimeout(r, 300));
    expect(fs.statSync(file).size).toBe(before); // two commits: not yet
    cp.wrote();
    await until(() => fs.statSync(file).size > 1_000_000, 'the pages to reach the database file');
    // The WAL starts over at the next commit: the writer was never blocked by the checkpoint.
    insert.run('after');
    expect(db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 101 });
    expect(failures).toEqual([]);
  });

  it('says so when its thread cannot open the file, so the owner can turn the automatic checkpoint back on', async () => {
    const failures: unknown[] = [];
    const cp = new WalCheckpointer({ file: path.join(path.dirname(tmpFile()), 'missing.sqlite'), everyCommits: 1, onFailed: (e) => failures.push(e) });
    closers.push(() => cp.close());
    cp.wrote();
    await until(() => failures.length > 0, 'the failure');
    expect(String(failures[0])).toMatch(/unable to open|does not exist|no such file/i);
    cp.wrote(); // no second thread, no second report
    await new Promise((r) => setTimeout(r, 200));
    expect(failures).toHaveLength(1);
  });
});
