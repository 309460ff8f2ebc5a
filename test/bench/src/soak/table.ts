import { percentile } from '../wal/figures.js';
import type { RoundResult } from './round.js';

/** Faults whose figure is the time from the fault to an active taking writes again (not planned, not meant to stop writes). */
const UNPLANNED = new Set([
  'host death',
  'leader paused',
  'redis restart',
  'manual --activate',
  'server stopped',
]);

/** The soak's closing table: per fault, then the totals beside the targets. */
export function soakTable(rounds: readonly RoundResult[], faults: readonly string[]): string[] {
  const lines: string[][] = [
    [
      'fault',
      'rounds',
      'outcomes',
      'seconds (median, worst)',
      'lost (outside RPO; after the fault)',
      'two writable',
      'failed',
    ],
  ];
  for (const fault of faults) {
    const of = rounds.filter((r) => r.fault === fault);
    if (of.length === 0) continue;
    const outcomes = new Map<string, number>();
    for (const r of of) {
      const kind = outcomeKind(r.outcome);
      outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
    }
    lines.push([
      fault,
      String(of.length),
      [...outcomes].map(([kind, count]) => `${count} ${kind}`).join(', '),
      figures(of),
      `${sum(of.map((r) => r.lost))} (${sum(of.map((r) => r.lostOutsideRpo))}; ${sum(of.map((r) => r.lostAfterFault))} after)`,
      String(of.filter((r) => r.twoWritable).length),
      String(of.filter((r) => r.failures.length > 0).length),
    ]);
  }
  const widths = lines[0]?.map((_, i) => Math.max(...lines.map((line) => line[i]?.length ?? 0))) ?? [];
  const table = lines.map((line) =>
    line
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );

  const unplanned = rounds.filter((r) => UNPLANNED.has(r.fault) && r.seconds !== undefined);
  const seconds = unplanned.map((r) => r.seconds ?? 0);
  const switches = rounds.filter((r) => r.fault === 'switchover' && r.seconds !== undefined);
  const gaps = switches.map((r) => r.seconds ?? 0);
  const median = percentile(seconds, 50);
  const worst = Math.max(0, ...seconds);
  const outsideRpo = sum(rounds.map((r) => r.lostOutsideRpo));
  const twoWritable = rounds.filter((r) => r.twoWritable).length;
  const failed = rounds.filter((r) => r.failures.length > 0).length;
  const totals: [string, string, string][] = [
    [
      `fault to an active taking writes again (${unplanned.length} rounds of host death, leader paused, redis restart, manual --activate, server stopped)`,
      `median ${median.toFixed(1)} s, worst ${worst.toFixed(1)} s`,
      verdict(median <= 8 && worst <= 15, 'median <= 8 s, worst <= 15 s'),
    ],
    [
      `acknowledged writes lost (asynchronous, 1 s RPO; a switchover's RPO is 0)`,
      `${sum(rounds.map((r) => r.lost))} (${outsideRpo} outside the RPO; ${sum(rounds.map((r) => r.lostAfterFault))} acknowledged after the fault)`,
      verdict(outsideRpo === 0, 'within the RPO'),
    ],
    [
      `planned switchover, client's writes refused (${switches.length})`,
      `median ${percentile(gaps, 50).toFixed(2)} s, worst ${Math.max(0, ...gaps).toFixed(2)} s, ${sum(switches.map((r) => r.lost))} lost`,
      verdict(percentile(gaps, 50) <= 2 && sum(switches.map((r) => r.lost)) === 0, '<= 2 s, 0 lost'),
    ],
    [
      `rounds with two writable instances (${rounds.length} rounds)`,
      String(twoWritable),
      verdict(twoWritable === 0, '0'),
    ],
    [`rounds failed (not whole again, or an expectation broken)`, String(failed), verdict(failed === 0, '0')],
  ];
  const width = Math.max(...totals.map(([what]) => what.length));
  return [
    ...table,
    '',
    ...totals.map(([what, value, target]) => `${what.padEnd(width)}  ${value}  [${target}]`),
  ];
}

/** The outcome without its names and figures: `failover`, `restarted in place`, `no failover`. */
function outcomeKind(outcome: string): string {
  if (outcome.includes('the manual won')) return 'manual won';
  if (outcome.includes('the election won')) return 'election won';
  return outcome.split(/[;(]| shop-/)[0]?.trim() ?? outcome;
}

function figures(rounds: readonly RoundResult[]): string {
  const seconds = rounds.flatMap((r) => (r.seconds === undefined ? [] : [r.seconds]));
  if (seconds.length === 0) return '-';
  return `${percentile(seconds, 50).toFixed(1)} s, ${Math.max(...seconds).toFixed(1)} s`;
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function verdict(ok: boolean, target: string): string {
  return `${ok ? 'ok' : 'MISSED'}: ${target}`;
}
