// A keyv store on better-sqlite3. Written by hand: @keyv/sqlite depends on the `sqlite3` package, a second native
// module with its own build; better-sqlite3 is already here for the job queue and is synchronous and fast.
import { EventEmitter } from 'node:events';
import Database from 'better-sqlite3';
import type { KeyvStoreAdapter, StoredData } from 'keyv';

export class SqliteKeyvStore extends EventEmitter implements KeyvStoreAdapter {
  opts: { uri: string; url: string; dialect: 'sqlite' };
  namespace?: string;
  private db: Database.Database;
  private ready?: ReturnType<SqliteKeyvStore['prepare']>;
  /** why the file could not be set up at start-up (a full disk); every call tries again until it can */
  initError?: unknown;

  constructor(file: string) {
    super();
    this.opts = { uri: file, url: `sqlite://${file}`, dialect: 'sqlite' }; // dialect makes keyv offer iterator()
    this.db = new Database(file);
    try {
      this.ready = this.prepare();
    } catch (e) {
      this.initError = e; // WAL cannot create its -shm file on a full disk: degraded until space returns
    }
  }

  private prepare() {
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec('CREATE TABLE IF NOT EXISTS keyv (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    return {
      get: this.db.prepare<[string], { value: string }>('SELECT value FROM keyv WHERE key = ?'),
      set: this.db.prepare('INSERT INTO keyv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      del: this.db.prepare('DELETE FROM keyv WHERE key = ?'),
      clear: this.db.prepare('DELETE FROM keyv WHERE substr(key, 1, length(?)) = ?'),
      scan: this.db.prepare<[string, string], { key: string; value: string }>('SELECT key, value FROM keyv WHERE substr(key, 1, length(?)) = ? ORDER BY key'),
    };
  }

  /** The statements, set up now if start-up could not (throws the disk's error while it is still full). */
  private get stmts() {
    if (!this.ready) {
      this.ready = this.prepare();
      this.initError = undefined;
    }
    return this.ready;
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return this.stmts.get.get(key)?.value as StoredData<Value> | undefined;
  }

  async set(key: string, value: unknown): Promise<void> {
    this.stmts.set.run(key, typeof value === 'string' ? value : JSON.stringify(value));
  }

  async delete(key: string): Promise<boolean> {
    return this.stmts.del.run(key).changes > 0;
  }

  async clear(): Promise<void> {
    const prefix = this.namespace ? `${this.namespace}:` : '';
    this.stmts.clear.run(prefix, prefix);
  }

  async has(key: string): Promise<boolean> {
    return this.stmts.get.get(key) !== undefined;
  }

  async *iterator<Value>(namespace?: string): AsyncGenerator<Array<string | Awaited<Value> | undefined>, void> {
    const prefix = namespace ? `${namespace}:` : '';
    // .all(), not .iterate(): an open iterator makes the statement busy for a concurrent listing.
    for (const row of this.stmts.scan.all(prefix, prefix)) {
      yield [row.key, row.value as Awaited<Value>];
    }
  }

  /** Retention: give the WAL's space back (it keeps the largest size it ever had otherwise). */
  checkpoint(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  async disconnect(): Promise<void> {
    this.db.close();
  }
}
