import { describe, expect, it } from 'vitest';

import { foldEvents, RunEvent, stageState } from '../src/progress';

const RUN: RunEvent[] = [
  { kind: 'run_started', message: 'run 1' },
  { kind: 'stage_started', stage: 'load' },
  {
    kind: 'stage_finished',
    stage: 'load',
    status: 'succeeded',
    duration_s: 1.2
  },
  { kind: 'stage_started', stage: 'double' }
];

describe('run events folded into progress', () => {
  it('tracks the running stage and the finished ones', () => {
    const progress = foldEvents(RUN);
    expect(progress.started).toEqual(['load', 'double']);
    expect(progress.finished).toEqual({ load: 'succeeded' });
    expect(progress.current).toBe('double');
    expect(stageState('double', 'stale', progress, true)).toBe('running');
    expect(stageState('load', 'up_to_date', progress, true)).toBe('up_to_date');
    expect(stageState('other', 'never_run', progress, true)).toBe('never_run');
  });

  it('keeps a failed stage failed, with its error, after the run', () => {
    const progress = foldEvents([
      ...RUN,
      {
        kind: 'stage_finished',
        stage: 'double',
        status: 'failed',
        error: {
          type: 'DeadKernelError',
          message: 'the kernel died while running cell 3'
        }
      },
      {
        kind: 'stage_finished',
        stage: 'report',
        status: 'not_run',
        reason: 'upstream double failed'
      },
      { kind: 'finished', run_id: 'r1', status: 'failed' }
    ]);
    expect(progress.current).toBeNull();
    expect(progress.errors).toEqual({
      double: 'the kernel died while running cell 3',
      report: 'upstream double failed'
    });
    expect(stageState('double', 'stale', progress, false)).toBe('failed');
    expect(stageState('report', 'never_run', progress, false)).toBe('failed');
    expect(stageState('load', 'up_to_date', progress, false)).toBe(
      'up_to_date'
    );
  });

  it('reports a run that stopped before any stage (a cycle)', () => {
    const progress = foldEvents([
      { kind: 'error', error: 'CycleError', message: 'a -> b -> a' }
    ]);
    expect(progress.runError).toBe('CycleError: a -> b -> a');
    expect(progress.started).toEqual([]);
  });

  it('shows the server state when there is no run', () => {
    expect(stageState('x', 'stale', null, false)).toBe('stale');
  });
});
