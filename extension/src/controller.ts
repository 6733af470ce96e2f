/**
 * The Pipeline panel's state and actions, apart from React: load a folder's pipeline, start a
 * run, follow it (poll every second), reattach to a run after a reload. Commands and the panel
 * share one controller; views subscribe and re-render on every change.
 */
import {
  getPipeline,
  getRun,
  listRuns,
  NbmlopsApiError,
  Pipeline,
  RunStatus,
  startRun
} from './api';
import { foldEvents, RunProgress, stageState, StageState } from './progress';

const FOLDER_KEY = 'nbmlops:pipeline-folder';
/** How often a run in progress is asked for its events. */
export const POLL_MS = 1000;

/** The REST calls the controller makes: api.ts's functions (a test passes its own server). */
export interface PipelineApi {
  getPipeline: typeof getPipeline;
  startRun: typeof startRun;
  listRuns: typeof listRuns;
  getRun: typeof getRun;
}

const SERVER: PipelineApi = { getPipeline, startRun, listRuns, getRun };

export interface PanelState {
  folder: string;
  force: boolean;
  pipeline: Pipeline | null;
  loading: boolean;
  /** How many loads have completed (tests and views can tell a fresh answer from an old one). */
  loads: number;
  /** The last error to show: a broken pipeline, a refused run, an unreachable server. */
  error: string | null;
  run: RunStatus | null;
  progress: RunProgress | null;
  runStartedAt: number | null;
}

export function describeError(error: unknown): string {
  if (error instanceof NbmlopsApiError) {
    const cycle = error.body.cycle;
    const detail = Array.isArray(cycle) ? ` (${cycle.join(' → ')})` : '';
    return `${error.name}: ${error.message}${detail}`;
  }
  return error instanceof Error ? error.message : String(error);
}

export class PipelineController {
  private listeners = new Set<() => void>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private _state: PanelState;

  constructor(
    private readonly storage: Pick<
      Storage,
      'getItem' | 'setItem'
    > | null = null,
    private readonly api: PipelineApi = SERVER
  ) {
    this._state = {
      folder: storage?.getItem(FOLDER_KEY) || 'notebooks',
      force: false,
      pipeline: null,
      loading: false,
      loads: 0,
      error: null,
      run: null,
      progress: null,
      runStartedAt: null
    };
  }

  get state(): PanelState {
    return this._state;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get running(): boolean {
    return this._state.run?.status === 'running';
  }

  /** What a stage shows: running / failed from the current or last run, else the server's state. */
  stateOf(stage: string): StageState {
    const found = this._state.pipeline?.stages.find(s => s.stage === stage);
    return stageState(
      stage,
      found?.state ?? 'never_run',
      this._state.progress,
      this.running
    );
  }

  /** The stage whose notebook is at `path` (relative to the server root), if any. */
  stageForNotebook(path: string): string | null {
    return (
      this._state.pipeline?.stages.find(s => s.notebook === path)?.stage ?? null
    );
  }

  setFolder(folder: string): void {
    this.update({ folder });
    this.storage?.setItem(FOLDER_KEY, folder);
  }

  setForce(force: boolean): void {
    this.update({ force });
  }

  async refresh(): Promise<void> {
    this.update({ loading: true });
    try {
      const pipeline = await this.api.getPipeline(this._state.folder);
      this.update({
        pipeline,
        loading: false,
        loads: this._state.loads + 1,
        error: this.runError()
      });
      if (pipeline.active_run && !this.timer) {
        await this.follow(pipeline.active_run);
      }
    } catch (error) {
      const loads = this._state.loads + 1;
      this.update({
        pipeline: null,
        loading: false,
        loads,
        error: describeError(error)
      });
    }
  }

  /** Run the pipeline (no stages) or the given stages, with their downstream ones. */
  async run(stages: string[] = [], downstream = true): Promise<void> {
    try {
      const started = await this.api.startRun({
        folder: this._state.folder,
        stages,
        downstream: stages.length > 0 && downstream,
        force: this._state.force
      });
      this.update({ error: null, progress: null, runStartedAt: Date.now() });
      await this.follow(started.id);
    } catch (error) {
      this.update({ error: describeError(error) });
    }
  }

  /** Show a run that is going on (after a page reload, or one started elsewhere). */
  async attach(): Promise<void> {
    try {
      const runs = await this.api.listRuns();
      if (runs.active) {
        this.update({ runStartedAt: Date.now() });
        await this.follow(runs.active.id);
      }
    } catch (error) {
      this.update({ error: describeError(error) });
    }
  }

  dispose(): void {
    this.stopPolling();
    this.listeners.clear();
  }

  private async follow(id: string): Promise<void> {
    this.stopPolling();
    const tick = async (): Promise<void> => {
      try {
        const run = await this.api.getRun(id);
        this.update({ run, progress: foldEvents(run.events) });
        if (run.status !== 'running') {
          this.stopPolling();
          await this.refresh();
        }
      } catch (error) {
        this.stopPolling();
        this.update({ error: describeError(error) });
      }
    };
    this.timer = setInterval(() => void tick(), POLL_MS);
    await tick();
  }

  private stopPolling(): void {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** The last run's own error or its failed stages, as the panel's error line. */
  private runError(): string | null {
    const progress = this._state.progress;
    if (!progress) {
      return null;
    }
    if (progress.runError) {
      return progress.runError;
    }
    const failed = Object.entries(progress.errors);
    return failed.length
      ? failed
          .map(([stage, message]) => `${stage} failed: ${message}`)
          .join('\n')
      : null;
  }

  private update(change: Partial<PanelState>): void {
    this._state = { ...this._state, ...change };
    if (change.progress !== undefined && !this.running) {
      this._state = {
        ...this._state,
        error: this.runError() ?? this._state.error
      };
    }
    this.listeners.forEach(listener => listener());
  }
}
