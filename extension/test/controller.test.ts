/**
 * The Pipeline panel's controller against a scripted server: each call answers with what the
 * real server answered (test/fixtures/rest/), so these are the panel's real transitions — load,
 * refresh, start a run, poll it every second, reattach, show errors, stop on dispose.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import {
  ErrorBody,
  NbmlopsApiError,
  Pipeline,
  RunList,
  RunRequest,
  RunStarted,
  RunStatus
} from '../src/api';
import {
  PanelState,
  PipelineApi,
  PipelineController,
  POLL_MS
} from '../src/controller';
import { answer } from './restFixtures';

/** Answers each call with the next recorded answer of its script (the last one repeats). */
class ScriptedServer implements PipelineApi {
  calls: string[] = [];
  runsAsked: RunRequest[] = [];
  pipelines: (Pipeline | Error)[] = [answer<Pipeline>('pipeline-never-run')];
  started: RunStarted | Error = answer<RunStarted>('run-started');
  runs: (RunStatus | Error)[] = [];
  list: RunList = answer<RunList>('runs-none');

  getPipeline = async (folder: string): Promise<Pipeline> => {
    this.calls.push(`getPipeline ${folder}`);
    return next(this.pipelines);
  };

  startRun = async (run: RunRequest): Promise<RunStarted> => {
    this.calls.push('startRun');
    this.runsAsked.push(run);
    if (this.started instanceof Error) {
      throw this.started;
    }
    return this.started;
  };

  listRuns = async (): Promise<RunList> => {
    this.calls.push('listRuns');
    return this.list;
  };

  getRun = async (id: string): Promise<RunStatus> => {
    this.calls.push(`getRun ${id}`);
    return next(this.runs);
  };

  count(call: string): number {
    return this.calls.filter(c => c.startsWith(call)).length;
  }
}

function next<T>(script: (T | Error)[]): T {
  const item = script.length > 1 ? script.shift()! : script[0];
  if (item instanceof Error) {
    throw item;
  }
  return structuredClone(item);
}

function refusal(name: string, status: number): NbmlopsApiError {
  return new NbmlopsApiError(status, answer<ErrorBody>(name));
}

const RUN_ID = answer<RunStarted>('run-started').id;

let server: ScriptedServer;
let controller: PipelineController;
let states: PanelState[];

beforeEach(() => {
  vi.useFakeTimers();
  server = new ScriptedServer();
  const storage = new Map([['nbmlops:pipeline-folder', 'analysis']]);
  controller = new PipelineController(
    {
      getItem: key => storage.get(key) ?? null,
      setItem: (key, value) => void storage.set(key, value)
    },
    server
  );
  states = [];
  controller.subscribe(() => states.push(controller.state));
});

afterEach(() => {
  controller.dispose();
  vi.useRealTimers();
});

describe('loading the pipeline', () => {
  it('shows the remembered folder, loading until the server answers', async () => {
    expect(controller.state.folder).toBe('analysis');
    await controller.refresh();
    expect(server.calls).toEqual(['getPipeline analysis']);
    expect(states.map(s => [s.loading, s.loads])).toEqual([
      [true, 0],
      [false, 1]
    ]);
    expect(controller.state.pipeline?.stages.map(s => s.stage)).toEqual([
      'cohort',
      'model',
      'report'
    ]);
    expect(controller.state.error).toBeNull();
    expect(controller.stateOf('model')).toBe('never_run');
    expect(controller.stageForNotebook('analysis/model.ipynb')).toBe('model');
    expect(controller.running).toBe(false);
  });

  it('loads the folder the user typed, and remembers it', async () => {
    controller.setFolder('notebooks');
    await controller.refresh();
    expect(server.calls).toEqual(['getPipeline notebooks']);
    const again = new PipelineController(
      { getItem: () => 'notebooks', setItem: () => undefined },
      server
    );
    expect(again.state.folder).toBe('notebooks');
  });

  it('replaces the pipeline by the error when the server refuses it (a cycle)', async () => {
    server.pipelines = [
      answer<Pipeline>('pipeline-up-to-date'),
      refusal('error-cycle', 409)
    ];
    await controller.refresh();
    expect(controller.stateOf('cohort')).toBe('up_to_date');
    await controller.refresh();
    expect(controller.state.pipeline).toBeNull();
    expect(controller.state.loads).toBe(2);
    expect(controller.state.error).toBe(
      'CycleError: the stages form a cycle: loop_b -> loop_a -> loop_b. Remove one of ' +
        'these upstream links to make a DAG. (loop_b → loop_a)'
    );
  });

  it('shows a stale stage as stale with the server state', async () => {
    server.pipelines = [answer<Pipeline>('pipeline-source-changed')];
    await controller.refresh();
    expect(controller.stateOf('cohort')).toBe('stale');
    expect(controller.stateOf('no-such-stage')).toBe('never_run');
  });
});

describe('a run', () => {
  beforeEach(async () => {
    await controller.refresh();
    server.calls = [];
  });

  it('starts, polls every second, shows the running stage and reloads when it ends', async () => {
    server.runs = [
      answer<RunStatus>('run-running'),
      answer<RunStatus>('run-succeeded')
    ];
    server.pipelines = [answer<Pipeline>('pipeline-up-to-date')];
    await controller.run();
    expect(server.runsAsked).toEqual([
      { folder: 'analysis', stages: [], downstream: false, force: false }
    ]);
    expect(server.calls).toEqual(['startRun', `getRun ${RUN_ID}`]);
    expect(controller.running).toBe(true);
    expect(controller.state.runStartedAt).toBe(Date.now());
    expect(controller.stateOf('report')).toBe('running');
    expect(controller.stateOf('cohort')).toBe('never_run'); // the server's, until it reloads
    expect(controller.state.progress?.finished).toEqual({
      cohort: 'succeeded',
      model: 'succeeded'
    });

    await vi.advanceTimersByTimeAsync(POLL_MS - 1);
    expect(server.count('getRun')).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.count('getRun')).toBe(2);
    expect(controller.running).toBe(false);
    expect(controller.state.run?.status).toBe('succeeded');
    expect(server.calls.at(-1)).toBe('getPipeline analysis');
    expect(controller.stateOf('report')).toBe('up_to_date');
    expect(controller.state.error).toBeNull();

    await vi.advanceTimersByTimeAsync(10 * POLL_MS);
    expect(server.count('getRun')).toBe(2); // polling stopped with the run
  });

  it('asks for one stage with its downstream, forced when "force" is ticked', async () => {
    server.runs = [answer<RunStatus>('run-succeeded')];
    controller.setForce(true);
    await controller.run(['model']);
    expect(server.runsAsked).toEqual([
      { folder: 'analysis', stages: ['model'], downstream: true, force: true }
    ]);
  });

  it('shows why the server refused to start it, and polls nothing', async () => {
    server.started = refusal('error-run-in-progress', 409);
    await controller.run();
    expect(controller.state.error).toMatch(
      /^RunInProgressError: run <run-id> is running in this project/
    );
    await vi.advanceTimersByTimeAsync(5 * POLL_MS);
    expect(server.calls).toEqual(['startRun']);
    expect(controller.running).toBe(false);
  });

  it('marks a failed stage and the one it kept from running failed, with their errors', async () => {
    server.runs = [
      answer<RunStatus>('run-running'),
      answer<RunStatus>('run-failed')
    ];
    server.pipelines = [answer<Pipeline>('pipeline-after-failure')];
    await controller.run();
    expect(controller.state.error).toBeNull(); // nothing failed yet
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(controller.state.run?.status).toBe('failed');
    expect(controller.stateOf('cohort')).toBe('up_to_date');
    expect(controller.stateOf('model')).toBe('failed');
    expect(controller.stateOf('report')).toBe('failed');
    const lines = controller.state.error?.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines?.[0]).toMatch(
      /^model failed: stage 'model' failed in cell 2 .*ValueError: the model input is empty/
    );
    expect(lines?.[1]).toBe('report failed: upstream model failed');
    expect(server.count('getPipeline')).toBe(1); // reloaded once, after the end
  });

  it('shows the error of a run that stopped before any stage', async () => {
    server.runs = [answer<RunStatus>('run-stopped')];
    await controller.run();
    expect(controller.running).toBe(false);
    expect(controller.state.error).toMatch(
      /^CycleError: the stages form a cycle: loop_\w -> loop_\w -> loop_\w/
    );
  });

  it('stops polling and says so when the server stops answering', async () => {
    server.runs = [
      answer<RunStatus>('run-running'),
      new NbmlopsApiError(0, {
        error: 'NetworkError',
        message: 'The Jupyter server did not answer'
      })
    ];
    await controller.run();
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(controller.state.error).toBe(
      'NetworkError: The Jupyter server did not answer'
    );
    await vi.advanceTimersByTimeAsync(10 * POLL_MS);
    expect(server.count('getRun')).toBe(2);
  });

  it('stops polling and notifying once disposed', async () => {
    server.runs = [answer<RunStatus>('run-running')];
    await controller.run();
    await vi.advanceTimersByTimeAsync(2 * POLL_MS);
    expect(server.count('getRun')).toBe(3);
    const notified = states.length;
    controller.dispose();
    await vi.advanceTimersByTimeAsync(10 * POLL_MS);
    expect(server.count('getRun')).toBe(3);
    expect(states).toHaveLength(notified);
  });
});

describe('reattaching after a reload', () => {
  it('follows the run the server says is going on', async () => {
    server.list = answer<RunList>('runs-running');
    server.runs = [
      answer<RunStatus>('run-running'),
      answer<RunStatus>('run-succeeded')
    ];
    await controller.attach();
    expect(server.calls).toEqual(['listRuns', `getRun ${RUN_ID}`]);
    expect(controller.running).toBe(true);
    expect(controller.state.runStartedAt).toBe(Date.now());
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(controller.running).toBe(false);
  });

  it('follows the run a loaded pipeline names as active', async () => {
    server.pipelines = [answer<Pipeline>('pipeline-running')];
    server.runs = [answer<RunStatus>('run-running')];
    await controller.refresh();
    expect(server.calls).toEqual(['getPipeline analysis', `getRun ${RUN_ID}`]);
    expect(controller.stateOf('report')).toBe('running');
    await controller.refresh(); // already following: no second poller
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(server.count('getRun')).toBe(2);
  });

  it('does nothing when no run is going on', async () => {
    await controller.attach();
    expect(server.calls).toEqual(['listRuns']);
    expect(controller.state.run).toBeNull();
    expect(controller.state.error).toBeNull();
  });
});
