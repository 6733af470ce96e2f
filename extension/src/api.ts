/**
 * The server extension's REST API (nbmlops/server/handlers.py): one typed function per endpoint.
 * A non-2xx answer throws NbmlopsApiError with the server's message and the field it names.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { JSONValue, ParamType, StageMetadata } from './metadata';

/*
 * The answers' types are the server's answers exactly: tests/test_rest_contract.py records what
 * the real server answers in test/fixtures/rest/, and test/restContract.test.ts checks those
 * answers with the guards in apiGuards.ts, built from these types. Each list of values below is
 * every value the server can send there, no more.
 */

/** A stage's state in the pipeline view (nbmlops/server/views.py). */
export const SERVER_STATES = ['up_to_date', 'stale', 'never_run'] as const;
export type ServerState = (typeof SERVER_STATES)[number];

/**
 * Why a stage is stale (nbmlops/run/state.py's kinds; `forced` never reaches the pipeline view,
 * which plans without force).
 */
export const REASON_KINDS = [
  'never_run',
  'source_changed',
  'stage_changed',
  'params_changed',
  'environment_changed',
  'upstream_changed',
  'upstream_missing',
  'product_missing',
  'product_changed',
  'inputs_changed',
  'input_changed',
  'input_missing',
  'upstream_will_run'
] as const;
export type ReasonKind = (typeof REASON_KINDS)[number];

/** How a pipeline run ended (a run record's status). */
export const RUN_OUTCOMES = ['succeeded', 'failed', 'up_to_date'] as const;
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

/** A background run's state: running, or how it ended. */
export const RUN_STATES = ['running', ...RUN_OUTCOMES] as const;
export type RunState = (typeof RUN_STATES)[number];

/** How a stage ended in a run (`skipped`: up to date; `not_run`: an upstream failed). */
export const STAGE_STATUSES = [
  'succeeded',
  'failed',
  'skipped',
  'not_run'
] as const;
export type StageStatus = (typeof STAGE_STATUSES)[number];

/** Why a stage is stale: decide on `kind` and `subject`, show `text` (nbmlops/run/state.py). */
export interface StaleReason {
  kind: ReasonKind;
  /** The parameter, product (`stage.product` upstream), stage or file it is about. */
  subject: string | null;
  text: string;
}

export interface PipelineStage {
  stage: string;
  upstream: string[];
  products: { [key: string]: string };
  /** Declared inputs: name -> path relative to the project root. */
  inputs: { [key: string]: string };
  params: { [key: string]: JSONValue };
  kernel: string;
  environment: string;
  notebook: string;
  state: ServerState;
  reasons: StaleReason[];
  executed_notebook: string | null;
  mlflow_run_id: string | null;
  mlflow_url: string | null;
  last_run_id: string | null;
  finished_at: string | null;
}

export interface Pipeline {
  name: string;
  root: string;
  folder: string;
  /** The folder of notebooks the pipeline is built from (relative to the server's root). */
  source: string;
  active_run: string | null;
  stages: PipelineStage[];
  edges: [string, string][];
}

export interface StageContext {
  stages: { name: string; notebook: string; upstream: string[] }[];
  problems: { notebook: string; message: string }[];
  cell_params: { [name: string]: JSONValue };
  /** The Python type of each literal in the cell: JSON cannot tell 1.0 from 1. */
  cell_types: { [name: string]: ParamType };
}

export interface Validated {
  ok: true;
  stage: string;
  metadata: StageMetadata;
  parameters_source: string;
}

/**
 * POST /nbmlops/stage/paths's answer: what a run would inject into a stage notebook, for a run
 * by hand (nbmlops/run/by_hand.py). Paths are absolute, as the kernel needs them.
 */
export interface StagePaths {
  pipeline: string;
  stage: string;
  notebook: string;
  /** Upstream stage -> product name -> its latest promoted product. */
  upstream: { [stage: string]: { [product: string]: string } };
  /** Product name -> its path in the stage's scratch folder. */
  product: { [product: string]: string };
  /** Declared input name -> path. */
  inputs: { [input: string]: string };
  /** `stage.product` of every upstream product not built yet. */
  missing: string[];
  /** The `injected-parameters` cell's source. */
  source: string;
}

export interface RunRequest {
  folder: string;
  stages: string[];
  downstream: boolean;
  force: boolean;
}

/** POST /nbmlops/runs's answer: the run's handle and what was asked. */
export interface RunStarted extends RunRequest {
  id: string;
  status: 'running';
}

/** A failed stage's error: its type, message and the fields that type has (cell, path...). */
export interface StageError {
  error: string;
  message: string;
  [field: string]: JSONValue;
}

/** A background run's progress, one event per line of its events file (server/runner.py). */
export type RunEvent =
  | { kind: 'run_started'; stage: null; message: string }
  | { kind: 'stage_started'; stage: string; message: string }
  | {
      kind: 'stage_finished';
      stage: string;
      message: string;
      status: StageStatus;
      duration_s: number;
      /** Why it ran (the stale reasons' text) or why it did not. */
      reason: string;
      mlflow_run_id: string | null;
      error: StageError | null;
    }
  | { kind: 'run_finished'; stage: null; message: RunOutcome }
  | { kind: 'finished'; run_id: string; status: RunOutcome }
  /** The run stopped before or between stages (a cycle, a bad parameter...). */
  | { kind: 'error'; error: string; message: string };

export interface RunStatus extends RunRequest {
  id: string;
  status: RunState;
  returncode: number | null;
  events: RunEvent[];
  log_tail: string[];
}

/** Who holds the project's run lock: a run from JupyterLab or from a terminal. */
export interface RunHolder {
  run_id: string | null;
  pid: number;
  host: string;
  user: string;
  since: string;
  command: string;
  /** The server's handle when the run was started from JupyterLab. */
  server_run: string | null;
}

export interface RunList {
  active: RunStatus | null;
  runs: string[];
  holder: RunHolder | null;
}

/**
 * A sweep point's status (nbmlops/sweep/state.py). A point a killed sweep left `running` is
 * answered `pending`: nothing runs it (`skipped` is not written by any sweep yet).
 */
export const POINT_STATUSES = [
  'pending',
  'running',
  'succeeded',
  'failed'
] as const;
export type PointStatus = (typeof POINT_STATUSES)[number];

/** Points of a sweep by status (nbmlops/server/sweeps.py). */
export interface PointCounts {
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  skipped: number;
}

/** GET /nbmlops/sweeps's item: one sweep, read from its files on disk. */
export interface SweepSummary {
  pipeline: string;
  sweep: string;
  /** How many points the sweep has. */
  total: number;
  counts: PointCounts;
  /** A process holds the sweep's lock now. */
  running: boolean;
  created_at: string | null;
  /** When its last run ended (null: none has). */
  finished_at: string | null;
  /** The sweep's MLflow parent run (its last run's that had one). */
  mlflow_run_id: string | null;
  /** `build/<pipeline>/sweeps/<sweep>/summary.html`, relative to the root; null: absent. */
  summary: string | null;
}

export interface SweepList {
  sweeps: SweepSummary[];
}

/** One point of a sweep: its parameters and numeric metrics only (no error text). */
export interface SweepPoint {
  id: string;
  /** Stage -> parameter -> value. */
  parameters: { [stage: string]: { [param: string]: JSONValue } };
  status: PointStatus;
  started_at: string | null;
  duration_s: number | null;
  /** `<stage>.<scrap>` -> its value. */
  metrics: { [name: string]: number };
  failed_stage: string | null;
  error_type: string | null;
  mlflow_run_id: string | null;
  /** The point's log, relative to the root. */
  log: string | null;
}

/** GET /nbmlops/sweeps/<pipeline>/<sweep>'s answer. */
export interface Sweep extends SweepSummary {
  /** The swept parameters, as `stage.param`. */
  swept: string[];
  /** In the sweep's order. */
  points: SweepPoint[];
}

/**
 * A 4xx answer: nbmlops's errors name their type and fields (nbmlops/server/handlers.py);
 * jupyter_server's own (a malformed body) carry `message` and `reason` only.
 */
export interface ErrorBody {
  error?: string;
  message: string;
  reason?: string;
  field?: string;
  upstream?: string;
  param?: string;
  stage?: string;
  path?: string;
  kernel?: string;
  cycle?: string[];
  /** A run holding the project: its handle, process, host, user, start and command. */
  handle?: string;
  pid?: number;
  host?: string;
  user?: string;
  since?: string;
  command?: string;
  /** A parameter assigned again: the cell (from 0) and line. */
  cell_index?: number;
  line?: number;
  /** A body over the route's limit: the limit in bytes. */
  limit?: number;
  /** A sweep that is unknown or running: its pipeline and name. */
  pipeline?: string;
  sweep?: string;
}

export class NbmlopsApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody
  ) {
    super(body.message || `the server answered ${status}`);
    this.name = body.error || 'NbmlopsApiError';
  }
}

async function request<T>(
  path: string[],
  init: RequestInit = {},
  query = ''
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'nbmlops', ...path) + query;
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new NbmlopsApiError(0, {
      error: 'NetworkError',
      message: `The Jupyter server did not answer (${String(error)}). Is it still running?`
    });
  }
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const fromServer: ErrorBody =
      typeof body === 'object' && body !== null
        ? (body as ErrorBody)
        : { message: text };
    if (!fromServer.message) {
      fromServer.message = `${response.status} ${response.statusText}`;
    }
    throw new NbmlopsApiError(response.status, fromServer);
  }
  return body as T;
}

function post(body: object): RequestInit {
  return { method: 'POST', body: JSON.stringify(body) };
}

/** GET /nbmlops/pipeline?folder= — the stages as a checked DAG with their states. */
export function getPipeline(folder: string): Promise<Pipeline> {
  return request<Pipeline>(
    ['pipeline'],
    {},
    `?folder=${encodeURIComponent(folder)}`
  );
}

/** POST /nbmlops/stage/context — upstream choices and the parameters cell's names. */
export function getStageContext(
  path: string,
  parametersSource: string | null
): Promise<StageContext> {
  return request<StageContext>(
    ['stage', 'context'],
    post({ path, parameters_source: parametersSource })
  );
}

/** A notebook cell as the server reads it (nbformat's fields, source as one string). */
export interface CellSource {
  cell_type: string;
  source: string;
  metadata: { tags: string[] };
}

/**
 * POST /nbmlops/stage/validate — the metadata checked as the CLI checks it, and the open
 * notebook's `cells` (no declared parameter may be assigned again after the parameters cell).
 */
export function validateStage(
  path: string,
  metadata: StageMetadata,
  parametersSource: string | null,
  cells: CellSource[] | null = null
): Promise<Validated> {
  return request<Validated>(
    ['stage', 'validate'],
    post({ path, metadata, parameters_source: parametersSource, cells })
  );
}

/** POST /nbmlops/stage/paths — the paths a run would inject, for a run by hand. */
export function getStagePaths(path: string): Promise<StagePaths> {
  return request<StagePaths>(['stage', 'paths'], post({ path }));
}

/** POST /nbmlops/runs — start a run in a background process on the server. */
export function startRun(run: RunRequest): Promise<RunStarted> {
  return request<RunStarted>(['runs'], post(run));
}

/** GET /nbmlops/runs — the run in progress, if any, the runs started here, who holds the project. */
export function listRuns(): Promise<RunList> {
  return request<RunList>(['runs']);
}

/** GET /nbmlops/runs/<id> — status, progress events and the log's tail. */
export function getRun(id: string): Promise<RunStatus> {
  return request<RunStatus>(['runs', id]);
}

/** GET /nbmlops/sweeps — the project's sweeps with their points counted by status. */
export function listSweeps(): Promise<SweepList> {
  return request<SweepList>(['sweeps']);
}

/** GET /nbmlops/sweeps/<pipeline>/<sweep> — one sweep with its points. */
export function getSweep(pipeline: string, sweep: string): Promise<Sweep> {
  return request<Sweep>([
    'sweeps',
    encodeURIComponent(pipeline),
    encodeURIComponent(sweep)
  ]);
}
