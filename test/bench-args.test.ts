// `npm run bench -- --quick` printed an empty table (the flag was taken for a measurement id). The command
// line is now checked first: --quick is a mode, unknown flags and ids stop with the usage and a non-zero exit.
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parseBenchArgs, USAGE } from '../bench/args.js';

const IDS = ['1', '2', '3', '4', '5', '6', '7'];

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

  it('rejects unknown flags and unknown ids, naming them', () => {
    expect(() => parseBenchArgs(['--qiuck'], IDS)).toThrow(/--qiuck/);
    expect(() => parseBenchArgs(['--quick=yes'], IDS)).toThrow(/quick/);
    expect(() => parseBenchArgs(['2', '9', 'webhook'], IDS)).toThrow(/unknown measurement 9, webhook/);
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

  it('--help prints the usage and exits 0', async () => {
    const r = await execa('node', ['--import', 'tsx', 'bench/run.ts', '--help'], { reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('--quick');
  });
});
