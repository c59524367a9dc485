// Checkpoints of a SQLite WAL on a worker thread with its own connection. A checkpoint copies the WAL's pages into
// the database file and fsyncs that file; SQLite's automatic one runs inside whichever commit crosses 1000 pages,
// so on the event loop it stalls every request in flight (a disk-bound fsync, milliseconds to tens of them). The
// owner turns the automatic one off (wal_autocheckpoint = 0) and calls `wrote()` after its commits instead.
// PASSIVE never blocks the owner's readers or writers; once a checkpoint has copied everything, the owner's next
// commit starts the WAL over from its beginning, so the file stays small as before.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// Plain CommonJS, evaluated by the worker: no TypeScript loader is needed in the thread.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
try {
  db = new Database(workerData.file, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
} catch (e) {
  throw new Error(String((e && e.message) || e)); // a plain Error: SqliteError does not survive the trip to the owner
}
parentPort.on('message', (m) => {
  if (m === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    parentPort.postMessage({ frames: r.log, copied: r.checkpointed });
  } catch (e) {
    parentPort.postMessage({ error: String((e && e.message) || e) });
  }
});
`;

export interface CheckpointerOptions {
  file: string;
  /** commits between checkpoints (a commit of the queue writes about 8 pages: ~ SQLite's 1000-page default) */
  everyCommits?: number;
  /** a checkpoint at least this often while there were commits (claims and finishes are not counted) */
  intervalMs?: number;
  /** the thread could not run: the owner turns SQLite's automatic checkpoint back on */
  onFailed(err: unknown): void;
}

export class WalCheckpointer {
  private worker?: Worker;
  private inFlight?: Promise<void>;
  private commits = 0;
  private failed = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly o: CheckpointerOptions) {
    this.timer = setInterval(() => this.commits > 0 && this.run(), o.intervalMs ?? 5_000);
    this.timer.unref();
  }

  /** false once the thread failed: the owner keeps SQLite's automatic checkpoint on */
  get active(): boolean {
    return !this.failed;
  }

  /** After a commit: start a checkpoint when enough have piled up and none is running. */
  wrote(): void {
    if (++this.commits >= (this.o.everyCommits ?? 128)) this.run();
  }

  private run(): void {
    if (this.inFlight || this.failed || this.closed) return;
    this.commits = 0;
    const w = this.thread();
    if (!w) return;
    this.inFlight = new Promise<void>((resolve) => {
      const done = () => {
        w.off('message', answered);
        w.off('exit', done);
        resolve();
      };
      const answered = (r: { error?: string }) => {
        // A busy database (another process checkpointing) is no failure: the next one catches up.
        if (r.error && !/busy|locked/i.test(r.error)) this.fail(new Error(`WAL checkpoint failed: ${r.error}`));
        done();
      };
      w.on('message', answered);
      w.once('exit', done); // the thread died (its 'error' fails the checkpointer)
      w.postMessage('run');
    }).finally(() => (this.inFlight = undefined));
  }

  private thread(): Worker | undefined {
    if (this.worker) return this.worker;
    try {
      const driver = createRequire(import.meta.url).resolve('better-sqlite3');
      this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file: this.o.file, driver } });
      this.worker.unref();
      this.worker.on('error', (e) => this.fail(e));
      return this.worker;
    } catch (e) {
      this.fail(e);
      return undefined;
    }
  }

  private fail(err: unknown): void {
    if (this.failed || this.closed) return;
    this.failed = true;
    this.o.onFailed(err);
    void this.worker?.terminate();
    this.worker = undefined;
  }

  /** Waits for a running checkpoint, then closes the thread's connection. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    // Unreferenced while it runs (it must not keep a process alive), but waited for now: referenced, or a process
    // with nothing else to do would exit in the middle of its shutdown.
    this.worker?.ref();
    await this.inFlight;
    const w = this.worker;
    this.worker = undefined;
    if (!w) return;
    const exited = new Promise((r) => w.once('exit', r));
    w.postMessage('close');
    await exited;
  }
}
