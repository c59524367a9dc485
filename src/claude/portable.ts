// Portable sessions: Claude Code keeps a session as a file on the disk of the replica that ran it. After every CLI
// call the transcript is copied to Redis (gzip); before a resume or fork on a replica that lacks it, or has an
// older copy, it is written back into this replica's session directory for the MR's workspace path.
//
// What a resume needs, checked on 2.1.197: only `<id>.jsonl`. A copy put into an empty CLAUDE_CONFIG_DIR under
// another workspace path resumed by absolute path with the whole conversation. Large tool outputs also land in
// `<id>/tool-results/*.txt`, but the transcript keeps a preview and an absolute path into the *original*
// replica's config dir, outside the workspace where the read-only tools cannot reach: not needed, not copied.
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { transcriptPath } from './paths.js';
import { DAY_MS } from '../config.js';
import { redisKey } from '../keys.js';

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

export interface PortableOptions {
  redis: Redis;
  prefix: string;
  /** CLAUDE_CONFIG_DIR of this replica */
  configDir: string;
  log: Logger;
  /** compressed size past which a save logs a warning (the CLI's own compaction should keep sessions smaller) */
  warnBytes?: number;
  /** an idle session is forgotten after this long; a later reply rebuilds its thread from GitLab */
  ttlMs?: number;
}

export interface SessionHooks {
  beforeRun(cwd: string, sessionIds: string[]): Promise<void>;
  afterRun(cwd: string, sessionId: string): Promise<void>;
}

export class PortableSessions implements SessionHooks {
  constructor(private readonly o: PortableOptions) {}

  private key(id: string): string {
    return redisKey.session(this.o.prefix, id);
  }

  /** Which generation of a transcript this replica has (written when it saves or restores one). */
  private genFile(id: string): string {
    return path.join(this.o.configDir, 'portable', `${id}.gen`);
  }

  private localGen(id: string): number {
    try {
      return Number(fs.readFileSync(this.genFile(id), 'utf8')) || 0;
    } catch {
      return 0;
    }
  }

  private setLocalGen(id: string, gen: number): void {
    fs.mkdirSync(path.dirname(this.genFile(id)), { recursive: true });
    fs.writeFileSync(this.genFile(id), String(gen));
  }

  async afterRun(cwd: string, sessionId: string): Promise<void> {
    const file = transcriptPath(this.o.configDir, cwd, sessionId);
    let raw: Buffer;
    try {
      raw = fs.readFileSync(file);
    } catch {
      this.o.log.warn({ sessionId, file }, 'portable sessions: transcript missing after a run; nothing saved');
      return;
    }
    const data = await gzip(raw);
    const key = this.key(sessionId);
    const res = await this.o.redis
      .multi()
      .hset(key, 'data', data, 'bytes', raw.length, 'savedAt', Date.now())
      .hincrby(key, 'gen', 1)
      .pexpire(key, this.o.ttlMs ?? 30 * DAY_MS)
      .exec();
    const gen = Number(res?.[1]?.[1] ?? 0);
    this.setLocalGen(sessionId, gen);
    const warn = this.o.warnBytes ?? 5 * 1024 * 1024;
    if (data.length > warn) {
      this.o.log.warn({ sessionId, bytes: raw.length, stored: data.length }, 'portable sessions: transcript is large; resumes and copies get slower');
    }
    this.o.log.debug({ sessionId, gen, bytes: raw.length, stored: data.length }, 'session saved to redis');
  }

  async beforeRun(cwd: string, sessionIds: string[]): Promise<void> {
    for (const id of sessionIds) await this.restore(cwd, id);
  }

  /** Restore when this replica has no copy or an older generation; a local copy that is current is kept. */
  private async restore(cwd: string, id: string): Promise<void> {
    const key = this.key(id);
    const gen = Number(await this.o.redis.hget(key, 'gen')) || 0;
    if (gen === 0) return; // never saved: the CLI's own "not found" is the answer
    const file = transcriptPath(this.o.configDir, cwd, id);
    if (fs.existsSync(file) && this.localGen(id) >= gen) return;
    const data = await this.o.redis.hgetBuffer(key, 'data');
    if (!data) return;
    const raw = await gunzip(data);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // write-then-rename: a CLI starting at the same moment never reads half a transcript
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, raw);
    fs.renameSync(tmp, file);
    this.setLocalGen(id, gen);
    this.o.log.info({ sessionId: id, gen, bytes: raw.length }, 'session restored from redis');
  }
}
