// One redaction step for everything that leaves the process (notes, logs): configured secrets become [redacted].

export type Redactor = (s: string) => string;

export function makeRedactor(secrets: string[]): Redactor {
  const list = [...new Set(secrets.filter((s) => s && s.length >= 4))].sort((a, b) => b.length - a.length);
  if (list.length === 0) return (s) => s;
  return (s) => {
    let out = s;
    for (const secret of list) if (out.includes(secret)) out = out.split(secret).join('[redacted]');
    return out;
  };
}
