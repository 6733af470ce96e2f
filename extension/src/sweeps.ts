/**
 * What the Sweeps section shows of a sweep, from the server's answer alone: the progress bar's
 * segments, the counts line, the command that writes a missing summary page.
 */
import type { SweepSummary } from './api';

/** The bar's segments, in the order they are drawn. */
export const SEGMENTS = ['succeeded', 'failed', 'running', 'pending'] as const;
export type Segment = (typeof SEGMENTS)[number];

/** Each segment's share of the sweep's points, in percent (they add up to 100, or 0 when empty). */
export function segmentWidths(sweep: SweepSummary): { [s in Segment]: number } {
  const { counts } = sweep;
  const total = Math.max(sweep.total, 1);
  const share = (n: number): number => (100 * n) / total;
  return {
    succeeded: share(counts.succeeded + counts.skipped),
    failed: share(counts.failed),
    running: share(counts.running),
    pending: sweep.total ? share(counts.pending) : 0
  };
}

/** The points finished (succeeded, failed or skipped). */
export function finished(sweep: SweepSummary): number {
  const { counts } = sweep;
  return counts.succeeded + counts.failed + counts.skipped;
}

/** `5 of 8 done · 1 failed · 2 running · 1 pending`: the non-zero counts. */
export function countsText(sweep: SweepSummary): string {
  const { counts } = sweep;
  const parts = [`${finished(sweep)} of ${sweep.total} done`];
  for (const [count, label] of [
    [counts.failed, 'failed'],
    [counts.running, 'running'],
    [counts.pending, 'pending'],
    [counts.skipped, 'skipped']
  ] as const) {
    if (count) {
      parts.push(`${count} ${label}`);
    }
  }
  return parts.join(' · ');
}

/** A word for a shell as typed: quoted when it holds anything but safe characters. */
function shellWord(word: string): string {
  return /^[\w.@%+=:,/-]+$/.test(word)
    ? word
    : `'${word.replace(/'/g, `'"'"'`)}'`;
}

/** The command that writes the sweep's summary page (and prints its table). */
export function resultsCommand(sweep: SweepSummary): string {
  return [
    'nbmlops sweep results',
    shellWord(sweep.sweep),
    '--pipeline',
    shellWord(sweep.pipeline),
    '--html'
  ].join(' ');
}

/** A sweep's key in lists and in the controller. */
export function sweepKey(sweep: { pipeline: string; sweep: string }): string {
  return `${sweep.pipeline}/${sweep.sweep}`;
}
