/**
 * The server extension's REST API (nbmlops/server/handlers.py): one typed function per endpoint.
 * A non-2xx answer throws NbmlopsApiError with the server's message and the field it names.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { JSONValue, StageMetadata } from './metadata';
import type { RunEvent, ServerState } from './progress';

/** Why a stage is stale: decide on `kind` and `subject`, show `text` (nbmlops/state.py). */
export interface StaleReason {
  kind:
    | 'never_run'
    | 'source_changed'
    | 'stage_changed'
    | 'params_changed'
    | 'environment_changed'
    | 'upstream_changed'
    | 'upstream_missing'
    | 'product_missing'
    | 'product_changed'
    | 'inputs_changed'
    | 'forced'
    | 'upstream_will_run';
  /** The parameter, product (`stage.product` upstream), stage or file it is about. */
  subject: string | null;
  text: string;
}

export interface PipelineStage {
  stage: string;
  upstream: string[];
  products: { [key: string]: string };
  params: { [key: string]: JSONValue };
  kernel?: string;
  environment?: string;
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
  active_run: string | null;
  stages: PipelineStage[];
  edges: [string, string][];
}

export interface StageContext {
  stages: { name: string; notebook: string; upstream: string[] }[];
  problems: { notebook: string; message: string }[];
  cell_params: { [name: string]: JSONValue };
  /** The Python type of each literal in the cell: JSON cannot tell 1.0 from 1. */
  cell_types: { [name: string]: string };
}

export interface Validated {
  ok: true;
  stage: string;
  metadata: StageMetadata;
  parameters_source: string;
}

export interface RunRequest {
  folder: string;
  stages: string[];
  downstream: boolean;
  force: boolean;
}

export interface RunStatus extends RunRequest {
  id: string;
  status: 'running' | 'succeeded' | 'failed';
  returncode: number | null;
  events: RunEvent[];
  log_tail: string[];
}

export interface RunList {
  active: RunStatus | null;
  runs: string[];
}

interface ErrorBody {
  error?: string;
  message?: string;
  field?: string;
  upstream?: string;
  param?: string;
  stage?: string;
  path?: string;
  cycle?: string[] | string;
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

/** POST /nbmlops/runs — start a run in a background process on the server. */
export function startRun(
  run: RunRequest
): Promise<{ id: string; status: string }> {
  return request<{ id: string; status: string }>(['runs'], post(run));
}

/** GET /nbmlops/runs — the run in progress, if any, and the runs this server started. */
export function listRuns(): Promise<RunList> {
  return request<RunList>(['runs']);
}

/** GET /nbmlops/runs/<id> — status, progress events and the log's tail. */
export function getRun(id: string): Promise<RunStatus> {
  return request<RunStatus>(['runs', id]);
}
