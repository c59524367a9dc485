// One redaction step for everything that leaves the process (notes, logs): configured secrets become [redacted],
// also when written base64- or URL-encoded, and so do GitLab/Anthropic token shapes that are not ours.

export type Redactor = (s: string) => string;

const R = '[redacted]';
/** GitLab token prefixes (personal, OAuth, deploy, runner, CI job, trigger, feed, …) and Anthropic keys. */
const TOKEN_SHAPES = /\b(?:gl(?:pat|oas|dt|rt|rtr|cbt|ptt|ft|imt|agent|soat|ffct|wt)-[0-9A-Za-z_-]{16,}|sk-ant-[0-9A-Za-z_-]{16,})/g;
const BASE64_RUN = /[A-Za-z0-9+/_-]{12,}={0,2}/g;
const URL_ENCODED_RUN = /[^\s"'<>()[\]{}`]*%[0-9A-Fa-f]{2}[^\s"'<>()[\]{}`]*/g;

/**
 * The parts of base64(… secret …) that do not depend on the bytes around the secret, for each of the three
 * alignments, in both alphabets: any base64 text that carries the secret contains one of them.
 */
function base64Cores(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const out = new Set<string>();
  for (let k = 0; k < 3; k++) {
    const enc = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    const core = enc.slice(k ? 4 : 0, Math.floor((k + bytes.length) / 3) * 4);
    if (core.length < 8) continue;
    out.add(core);
    out.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return [...out];
}

export function makeRedactor(secrets: string[]): Redactor {
  const list = [...new Set(secrets.filter((s) => s && s.length >= 4))].sort((a, b) => b.length - a.length);
  const cores = list.filter((s) => s.length >= 8).flatMap(base64Cores);
  const verbatim = (s: string) => {
    let out = s;
    for (const secret of list) if (out.includes(secret)) out = out.split(secret).join(R);
    return out;
  };
  return (s) => {
    let out = verbatim(s);
    if (cores.length) out = out.replace(BASE64_RUN, (run) => (cores.some((c) => run.includes(c)) ? R : run));
    if (list.length && out.includes('%')) {
      out = out.replace(URL_ENCODED_RUN, (run) => {
        let decoded = run;
        try {
          decoded = decodeURIComponent(run);
        } catch {
          return run;
        }
        return verbatim(decoded) === decoded ? run : R;
      });
    }
    return out.replace(TOKEN_SHAPES, R);
  };
}
