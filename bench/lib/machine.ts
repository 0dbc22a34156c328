/** What the run ran on, for the JSON file and the report's header. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  kernel: string;
  /** 1-minute load average when the run started: other work on a shared machine. */
  loadAverage: number;
  /** Soft and hard open-file limits every process of the run inherits. */
  nofile: { soft: number; hard: number };
  commit: string;
  /** Files under gateway/src that differ from the commit when the run started. */
  gatewayChanges: string[];
}

export function machineInfo(repo: string): MachineInfo {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const nofile = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(limits);
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    kernel: os.release(),
    loadAverage: Math.round(os.loadavg()[0]! * 100) / 100,
    nofile: { soft: limitValue(nofile?.[1]), hard: limitValue(nofile?.[2]) },
    commit: git('rev-parse', '--short', 'HEAD'),
    gatewayChanges: git('status', '--porcelain', '--', 'gateway/src').split('\n').filter((l) => l !== ''),
  };
}

function limitValue(text: string | undefined): number {
  return text === undefined || text === 'unlimited' ? Infinity : Number(text);
}
