import { benchHarness, makeMr } from '../support.ts';
const h = await benchHarness();
const { project, mr } = await makeMr(h, { path: 'bench/threads' });
h.model.respond((req) => {
  const tool = (req.body?.tools ?? []).find((t: any) => t?.name === 'StructuredOutput');
  if (!('findings' in (tool?.input_schema?.properties ?? {}))) return undefined;
  const findings = Array.from({ length: 6 }, (_, i) => ({
    file: 'src/math.js', side: 'new', start_line: 6, end_line: 6, anchor_text: '  return a / b;', severity: 'major', category: 'bug',
    confidence: 95, pre_existing: false, title: `Division by zero, case ${i}`, body: `Case ${i}: b can be 0.`, evidence: [], suggestion: null,
  }));
  return { structured: { summary: 'Adds div.', risk: 'medium', findings } };
});
await h.send(h.gitlab.mrHook(project, mr.iid, 'open'));
await new Promise((r) => setTimeout(r, 8000));
console.log(h.model.requests.length, h.model.requests.map((r) => r.lastUserText.slice(0, 200)));
console.log(h.logs.slice(-8).join('\n'));
await h.close();
