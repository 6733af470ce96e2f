/**
 * A run's progress events (GET /nbmlops/runs/<id>) folded into what the panel shows: each
 * stage's state during and after the run, counts, the current stage and the run's error.
 */

import type { RunEvent, ServerState, StageStatus } from './api';

export type StageState = ServerState | 'running' | 'failed';

export interface RunProgress {
  /** Stages started so far, in order. */
  started: string[];
  /** Stage -> its finishing status. */
  finished: { [stage: string]: StageStatus };
  /** Stage -> the error message of a failed stage. */
  errors: { [stage: string]: string };
  current: string | null;
  /** The run's own error (a cycle, a bad parameter...) when it stopped before or between stages. */
  runError: string | null;
}

export function errorText(error: unknown): string {
  if (typeof error === 'string') {
    return error;
  }
  if (typeof error === 'object' && error !== null) {
    const message = (error as { message?: unknown }).message;
    if (typeof message === 'string') {
      return message;
    }
    return JSON.stringify(error);
  }
  return '';
}

export function foldEvents(events: RunEvent[]): RunProgress {
  const progress: RunProgress = {
    started: [],
    finished: {},
    errors: {},
    current: null,
    runError: null
  };
  for (const event of events) {
    if (event.kind === 'stage_started') {
      progress.started.push(event.stage);
      progress.current = event.stage;
    } else if (event.kind === 'stage_finished') {
      progress.finished[event.stage] = event.status;
      if (event.status === 'failed' || event.status === 'not_run') {
        progress.errors[event.stage] =
          errorText(event.error) || event.reason || `stage ${event.status}`;
      }
      if (progress.current === event.stage) {
        progress.current = null;
      }
    } else if (event.kind === 'error') {
      progress.runError = `${errorText(event.error)}: ${event.message}`.replace(
        /^: /,
        ''
      );
      progress.current = null;
    }
  }
  return progress;
}

/**
 * The state a stage shows: running while the run works on it, failed when it failed in the
 * last run (until a later run), otherwise what the server says.
 */
export function stageState(
  stage: string,
  server: ServerState,
  progress: RunProgress | null,
  running: boolean
): StageState {
  if (!progress) {
    return server;
  }
  if (running && progress.current === stage) {
    return 'running';
  }
  const status = progress.finished[stage];
  if (status === 'failed' || status === 'not_run') {
    return 'failed';
  }
  return server;
}
