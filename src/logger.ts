// pino JSON lines; every line passes the redactor, so a token cannot reach a log even inside an error message.
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import type { Redactor } from './redact.js';
import { logContextFields } from './log-context.js';

export type { Logger };

export function createLogger(opts: { level: string; redact: Redactor; destination?: NodeJS.WritableStream }): Logger {
  const out = opts.destination ?? process.stdout;
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out.write(opts.redact(chunk.toString()));
      cb();
    },
  });
  return pino(
    {
      level: opts.level,
      base: { service: 'mr-reviewer' },
      // the session id of the job this line belongs to, once known (log-context.ts)
      mixin: logContextFields,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['token', 'headers["x-gitlab-token"]', 'config.GITLAB_TOKEN'], censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}
