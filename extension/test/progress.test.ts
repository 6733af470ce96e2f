import { describe, expect, it } from 'vitest';

import type { RunStatus } from '../src/api';
import { foldEvents, stageState } from '../src/progress';
import { answer } from './restFixtures';

/** The events of a run the real server reported (test/fixtures/rest/). */
const events = (name: string) => answer<RunStatus>(name).events;

describe('run events folded into progress', () => {
  it('tracks the running stage and the finished ones', () => {
    const progress = foldEvents(events('run-running'));
    expect(progress.started).toEqual(['cohort', 'model', 'report']);
    expect(progress.finished).toEqual({
      cohort: 'succeeded',
      model: 'succeeded'
    });
    expect(progress.current).toBe('report');
    expect(stageState('report', 'stale', progress, true)).toBe('running');
    expect(stageState('model', 'up_to_date', progress, true)).toBe(
      'up_to_date'
    );
    expect(stageState('other', 'never_run', progress, true)).toBe('never_run');
  });

  it('keeps a failed stage failed, with its error, after the run', () => {
    const progress = foldEvents(events('run-failed'));
    expect(progress.current).toBeNull();
    expect(progress.finished).toEqual({
      cohort: 'succeeded',
      model: 'failed',
      report: 'not_run'
    });
    expect(Object.keys(progress.errors)).toEqual(['model', 'report']);
    expect(progress.errors.model).toMatch(
      /^stage 'model' failed in cell 2 .*: ValueError: the model input is empty\./
    );
    expect(progress.errors.report).toBe('upstream model failed');
    expect(stageState('model', 'stale', progress, false)).toBe('failed');
    expect(stageState('report', 'stale', progress, false)).toBe('failed');
    expect(stageState('cohort', 'up_to_date', progress, false)).toBe(
      'up_to_date'
    );
  });

  it('reports a run that stopped before any stage (a cycle)', () => {
    const progress = foldEvents(events('run-stopped'));
    expect(progress.runError).toMatch(
      /^CycleError: the stages form a cycle: loop_\w -> loop_\w -> loop_\w\./
    );
    expect(progress.started).toEqual([]);
  });

  it('counts the stages a run with nothing to do skipped', () => {
    const progress = foldEvents(events('run-up-to-date'));
    expect(progress.started).toEqual([]);
    expect(progress.finished).toEqual({
      cohort: 'skipped',
      model: 'skipped',
      report: 'skipped'
    });
    expect(progress.errors).toEqual({});
  });

  it('shows the server state when there is no run', () => {
    expect(stageState('x', 'stale', null, false)).toBe('stale');
  });
});
