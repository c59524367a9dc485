// `npm run bench -- --quick` printed an empty table (the flag was taken for a measurement id). The command
// line is now checked first: --quick is a mode, unknown flags and ids stop with the usage and a non-zero exit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parseBenchArgs, USAGE } from '../bench/args.js';
import { readReport, renderReport, toReport, writeReport } from '../bench/report.js';
import type { Section } from '../bench/support.js';

const IDS = ['1', '2', '3', '4', '5', '6', '7', '8', '9'];

describe('parseBenchArgs', () => {
  it('no arguments: every measurement, full size', () => {
    expect(parseBenchArgs([], IDS)).toEqual({ help: false, quick: false, ids: [] });
  });

  it('--quick and ids, in any order', () => {
    expect(parseBenchArgs(['--quick'], IDS)).toEqual({ help: false, quick: true, ids: [] });
    expect(parseBenchArgs(['2', '--quick', '6'], IDS)).toEqual({ help: false, quick: true, ids: ['2', '6'] });
  });

  it('--help and -h', () => {
    expect(parseBenchArgs(['--help'], IDS)).toEqual({ help: true });
    expect(parseBenchArgs(['-h', '3'], IDS)).toEqual({ help: true });
  });

  it('--json FILE with a mode and ids; --from FILE alone', () => {
    expect(parseBenchArgs(['--quick', '--json', 'out/bench.json', '2'], IDS)).toEqual({ help: false, quick: true, ids: ['2'], json: 'out/bench.json' });
    expect(parseBenchArgs(['--json=run.json'], IDS)).toEqual({ help: false, quick: false, ids: [], json: 'run.json' });
    expect(parseBenchArgs(['--from', 'run.json'], IDS)).toEqual({ help: false, from: 'run.json' });
    expect(() => parseBenchArgs(['--json'], IDS)).toThrow(/json/);
    expect(() => parseBenchArgs(['--json', ''], IDS)).toThrow(/--json needs a file name/);
    expect(() => parseBenchArgs(['--from', 'run.json', '--quick'], IDS)).toThrow(/--from prints a saved run/);
    expect(() => parseBenchArgs(['--from', 'run.json', '2'], IDS)).toThrow(/--from prints a saved run/);
  });

  it('rejects unknown flags and unknown ids, naming them', () => {
    expect(() => parseBenchArgs(['--qiuck'], IDS)).toThrow(/--qiuck/);
    expect(() => parseBenchArgs(['--quick=yes'], IDS)).toThrow(/quick/);
    expect(() => parseBenchArgs(['2', '10', 'webhook'], IDS)).toThrow(/unknown measurement 10, webhook/);
  });
});

describe('the JSON report', () => {
  const sections: Section[] = [
    {
      id: '1',
      title: 'Webhook ack',
      rows: [
        { metric: 'p50', value: '1.2 ms', baseline: '1.0 ms bare', ratio: '1.20×', target: '≤ 1.5×', met: true },
        { metric: 'p99', value: '9.0 ms', baseline: '4.0 ms', ratio: '2.25×', target: '≤ 1.5×', met: false, note: 'a burst' },
      ],
      notes: ['load generator on the same cores'],
    },
    { id: '9', title: 'Cost', rows: [{ metric: 'review', value: '$0.05' }] },
  ];
  const meta = { date: '2026-12-02T16:00:00.000Z', machine: 'cpu: Test × 2 cores', load: { before: 3.25, after: 4 }, quick: false, runs: 5, seconds: 70 } as const;
  const report = toReport(sections, { ...meta, load: { ...meta.load, cores: 2 } });

  it('has every figure with its target and whether it was met, and counts the missed ones', () => {
    expect(report.figures).toEqual([
      { id: '1', section: 'Webhook ack', metric: 'p50', value: '1.2 ms', baseline: '1.0 ms bare', ratio: '1.20×', target: '≤ 1.5×', met: true },
      { id: '1', section: 'Webhook ack', metric: 'p99', value: '9.0 ms', baseline: '4.0 ms', ratio: '2.25×', target: '≤ 1.5×', met: false, note: 'a burst' },
      { id: '9', section: 'Cost', metric: 'review', value: '$0.05' },
    ]);
    expect(report.targets).toEqual({ total: 2, met: 1, missed: ['1 Webhook ack: p99'] });
  });

  it('round-trips through a file, and the table names the machine, the load and the targets met', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-bench-json-'));
    try {
      const file = path.join(dir, 'nested', 'run.json');
      writeReport(file, report);
      const back = readReport(file);
      expect(back).toEqual(report);
      const text = renderReport(back);
      expect(text).toContain('mr-reviewer bench, 2026-12-02: cpu: Test × 2 cores; load average 3.3 before, 4.0 after, on 2 cores');
      expect(text).toContain('targets met: 1 of 2');
      expect(text).toMatch(/\| 1 +\| \*\*Webhook ack\*\*: p50 +\| 1\.2 ms +\| 1\.0 ms bare \| 1\.20× \| ≤ 1\.5× \| yes +\|/);
      expect(text).toContain('**no**');
      expect(text).toContain('- 1: load generator on the same cores');
      fs.writeFileSync(path.join(dir, 'other.json'), '{"a":1}');
      expect(() => readReport(path.join(dir, 'other.json'))).toThrow(/not a bench report/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm run bench (the command line only: no measurement runs)', () => {
  it('an unknown flag prints the usage to stderr and exits 2 before measuring anything', async () => {
    const r = await execa('node', ['--import', 'tsx', 'bench/run.ts', '--fast'], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("bench: Unknown option '--fast'");
    expect(r.stderr).toContain(USAGE);
    expect(r.stderr).not.toContain('bench 1');
    expect(r.stdout).toBe('');
  });

  it('--from FILE prints a saved run without measuring', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-bench-from-'));
    try {
      const file = path.join(dir, 'run.json');
      writeReport(file, toReport([{ id: '2', title: 'Review overhead', rows: [{ metric: 'share', value: '8.0%', target: '≤ 10%', met: true }] }], { date: '2026-12-02T00:00:00.000Z', machine: 'm', load: { before: 1, after: 1, cores: 2 }, quick: true, runs: 1, seconds: 3 }));
      const r = await execa('node', ['--import', 'tsx', 'bench/run.ts', '--from', file], { reject: false });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('**Review overhead**: share');
      expect(r.stdout).toContain('QUICK mode');
      expect(r.stderr).not.toContain('bench 2');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--help prints the usage and exits 0', async () => {
    const r = await execa('node', ['--import', 'tsx', 'bench/run.ts', '--help'], { reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('--quick');
  });
});
