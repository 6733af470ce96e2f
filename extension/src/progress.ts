/**
 * A run's progress events (GET /nbmlops/runs/<id>) folded into what the panel shows: each
 * stage's state during and after the run, counts, the current stage and the run's error.
 */

export type ServerState = 'up_to_date' | 'stale' | 'never_run';
export type StageState = ServerState | 'running' | 'failed';

export interface RunEvent {
  kind: string;
  stage?: string | null;
  status?: string;
  message?: string;
  error?: unknown;
  duration_s?: number;
  reason?: string | null;
  mlflow_run_id?: string | null;
  run_id?: string;
}

export interface RunProgress {
  /** Stages started so far, in order. */
  started: string[];
  /** Stage -> its finishing status (succeeded, skipped, failed, not_run). */
  finished: { [stage: string]: string };
  /** Stage -> the error message of a failed stage. */
  errors: { [stage: string]: string };
  current: string | null;
  /** The run's own error (a cycle, a bad parameter...) when it stopped before or between stages. */
  runError: string | null;
  notes: string[];
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
    runError: null,
    notes: []
  };
  for (const event of events) {
    const stage = event.stage ?? null;
    if (event.kind === 'stage_started' && stage) {
      progress.started.push(stage);
      progress.current = stage;
    } else if (event.kind === 'stage_finished' && stage) {
      progress.finished[stage] = event.status ?? 'failed';
      if (event.status === 'failed' || event.status === 'not_run') {
        progress.errors[stage] =
          errorText(event.error) || event.reason || `stage ${event.status}`;
      }
      if (progress.current === stage) {
        progress.current = null;
      }
    } else if (event.kind === 'error') {
      progress.runError =
        `${errorText(event.error)}: ${event.message ?? ''}`.replace(/^: /, '');
      progress.current = null;
    } else if (event.kind === 'note' && event.message) {
      progress.notes.push(event.message);
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
