/**
 * Runtime checks of the server's answers against api.ts's types. The REST contract test
 * (test/restContract.test.ts) runs them over the answers the real server gave
 * (test/fixtures/rest/, recorded by tests/test_rest_contract.py).
 *
 * Each guard is typed by what it checks, and the compiler holds it to that type: `object<T>`
 * wants a guard for every key of T, and a guard of a narrower or wider type is not a `Guard<T>`
 * (`oneOf(SERVER_STATES)` knows exactly ServerState's values). Objects are exact: a key the type
 * does not name is a problem, so a field the server adds fails the contract test until api.ts
 * names it. Every list of literal values is recorded in `LITERALS`, so the test can also ask
 * that each value was met in a real answer.
 */
import {
  ErrorBody,
  Pipeline,
  PipelineStage,
  POINT_STATUSES,
  PointCounts,
  REASON_KINDS,
  RUN_OUTCOMES,
  RUN_STATES,
  RunEvent,
  RunHolder,
  RunList,
  RunStarted,
  RunStatus,
  SERVER_STATES,
  STAGE_STATUSES,
  StageContext,
  StageError,
  StagePaths,
  StaleReason,
  Sweep,
  SweepList,
  SweepPoint,
  SweepSummary,
  Validated
} from './api';
import { JSONValue, PARAM_TYPES, StageMetadata } from './metadata';

/** Literal values met while checking, by the name of their list. */
export type Seen = Map<string, Set<string>>;

export interface Guard<T> {
  /** The problems of `value` as a T, one line each, starting with `path`. */
  check(value: unknown, path: string, seen: Seen): string[];
  /** A key with this guard may be absent from its object. */
  readonly optional?: boolean;
  /** Makes `Guard<T>` invariant in T: only a guard of exactly T is a `Guard<T>`. */
  readonly _type?: (value: T) => T;
}

/** Every list of literal values a guard knows, by name. */
export const LITERALS = new Map<string, readonly string[]>();

function describe(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

function isRecord(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function primitive<T>(
  name: string,
  test: (value: unknown) => boolean
): Guard<T> {
  return {
    check: (value, path) =>
      test(value) ? [] : [`${path}: ${describe(value)} is not ${name}`]
  };
}

export const string = primitive<string>('a string', v => typeof v === 'string');
export const number = primitive<number>('a number', v => typeof v === 'number');
export const boolean = primitive<boolean>(
  'true or false',
  v => typeof v === 'boolean'
);
const nothing = primitive<null>('null', v => v === null);

/** Exactly `expected` (a discriminant, or a constant such as `ok: true`). */
export function literal<L extends string | boolean>(expected: L): Guard<L> {
  return primitive<L>(JSON.stringify(expected), v => v === expected);
}

/** One of `values`, recorded in `seen` under `name`. */
export function oneOf<L extends string>(
  name: string,
  values: readonly L[]
): Guard<L> {
  LITERALS.set(name, values);
  return {
    check: (value, path, seen) => {
      if (typeof value !== 'string' || !values.includes(value as L)) {
        return [
          `${path}: ${describe(value)} is no ${name} (${values.join(', ')})`
        ];
      }
      seen.set(name, (seen.get(name) ?? new Set()).add(value));
      return [];
    }
  };
}

export function nullable<T>(guard: Guard<T>): Guard<T | null> {
  return {
    check: (value, path, seen) =>
      value === null ? [] : guard.check(value, path, seen)
  };
}

export function optional<T>(guard: Guard<T>): Guard<T | undefined> {
  return {
    optional: true,
    check: (value, path, seen) =>
      value === undefined ? [] : guard.check(value, path, seen)
  };
}

export function arrayOf<T>(guard: Guard<T>): Guard<T[]> {
  return {
    check: (value, path, seen) =>
      Array.isArray(value)
        ? value.flatMap((item, i) => guard.check(item, `${path}[${i}]`, seen))
        : [`${path}: ${describe(value)} is not a list`]
  };
}

export function pair<A, B>(first: Guard<A>, second: Guard<B>): Guard<[A, B]> {
  return {
    check: (value, path, seen) =>
      Array.isArray(value) && value.length === 2
        ? [
            ...first.check(value[0], `${path}[0]`, seen),
            ...second.check(value[1], `${path}[1]`, seen)
          ]
        : [`${path}: ${describe(value)} is not a pair`]
  };
}

/** An object with any keys, each value a T. */
export function recordOf<T>(guard: Guard<T>): Guard<{ [key: string]: T }> {
  return {
    check: (value, path, seen) =>
      isRecord(value)
        ? Object.entries(value).flatMap(([key, item]) =>
            guard.check(item, `${path}.${key}`, seen)
          )
        : [`${path}: ${describe(value)} is not an object`]
  };
}

/** An object with exactly T's keys (a key with an `optional` guard may be absent). */
export function object<T>(fields: { [K in keyof T]-?: Guard<T[K]> }): Guard<T> {
  const guards: [string, Guard<unknown>][] = Object.entries(fields);
  return {
    check: (value, path, seen) => {
      if (!isRecord(value)) {
        return [`${path}: ${describe(value)} is not an object`];
      }
      const known = new Set(guards.map(([key]) => key));
      const unknown = Object.keys(value)
        .filter(key => !known.has(key))
        .map(key => `${path}.${key}: a key the type does not name`);
      return guards.reduce(
        (problems, [key, guard]) =>
          !(key in value) && !guard.optional
            ? [...problems, `${path}.${key}: missing`]
            : [...problems, ...guard.check(value[key], `${path}.${key}`, seen)],
        unknown
      );
    }
  };
}

type Variants<T extends { kind: string }> = {
  [K in T['kind']]: Guard<Extract<T, { kind: K }>>;
};

/** One of a union of objects told apart by `kind`; the kinds are recorded under `name`. */
export function byKind<T extends { kind: string }>(
  name: string,
  variants: Variants<T>
): Guard<T> {
  const kinds = Object.keys(variants) as T['kind'][];
  const kind = oneOf(name, kinds);
  return {
    check: (value, path, seen) => {
      const problems = kind.check(
        isRecord(value) ? value.kind : undefined,
        `${path}.kind`,
        seen
      );
      if (problems.length || !isRecord(value)) {
        return problems;
      }
      const variant = variants[value.kind as T['kind']] as Guard<unknown>;
      return variant.check(value, path, seen);
    }
  };
}

export const json: Guard<JSONValue> = {
  check: (value, path, seen) => {
    if (Array.isArray(value)) {
      return value.flatMap((item, i) =>
        json.check(item, `${path}[${i}]`, seen)
      );
    }
    if (isRecord(value)) {
      return Object.entries(value).flatMap(([key, item]) =>
        json.check(item, `${path}.${key}`, seen)
      );
    }
    return value === null ||
      ['string', 'number', 'boolean'].includes(typeof value)
      ? []
      : [`${path}: ${describe(value)} is not JSON`];
  }
};

// -- the answers ----------------------------------------------------------------------------

const strings = arrayOf(string);
const serverState = oneOf('ServerState', SERVER_STATES);
const runOutcome = oneOf('RunOutcome', RUN_OUTCOMES);

const staleReason = object<StaleReason>({
  kind: oneOf('ReasonKind', REASON_KINDS),
  subject: nullable(string),
  text: string
});

const pipelineStage = object<PipelineStage>({
  stage: string,
  upstream: strings,
  products: recordOf(string),
  inputs: recordOf(string),
  params: recordOf(json),
  kernel: string,
  environment: string,
  notebook: string,
  state: serverState,
  reasons: arrayOf(staleReason),
  executed_notebook: nullable(string),
  mlflow_run_id: nullable(string),
  mlflow_url: nullable(string),
  last_run_id: nullable(string),
  finished_at: nullable(string)
});

const pipeline = object<Pipeline>({
  name: string,
  root: string,
  folder: string,
  source: string,
  active_run: nullable(string),
  stages: arrayOf(pipelineStage),
  edges: arrayOf(pair(string, string))
});

const stageContext = object<StageContext>({
  stages: arrayOf(
    object<StageContext['stages'][number]>({
      name: string,
      notebook: string,
      upstream: strings
    })
  ),
  problems: arrayOf(
    object<StageContext['problems'][number]>({
      notebook: string,
      message: string
    })
  ),
  cell_params: recordOf(json),
  cell_types: recordOf(oneOf('ParamType', PARAM_TYPES))
});

const stagePaths = object<StagePaths>({
  pipeline: string,
  stage: string,
  notebook: string,
  upstream: recordOf(recordOf(string)),
  product: recordOf(string),
  inputs: recordOf(string),
  missing: strings,
  source: string
});

const stageMetadata = object<StageMetadata>({
  stage: string,
  upstream: strings,
  products: recordOf(string),
  inputs: optional(recordOf(string)),
  params: recordOf(json),
  kernel: optional(string),
  environment: optional(string)
});

const validated = object<Validated>({
  ok: literal(true),
  stage: string,
  metadata: stageMetadata,
  parameters_source: string
});

/** A failed stage's error: `error` and `message`, then whatever fields its type has. */
const stageError: Guard<StageError> = {
  check: (value, path, seen) => {
    const base = object<{ error: string; message: string }>({
      error: string,
      message: string
    });
    if (!isRecord(value)) {
      return base.check(value, path, seen);
    }
    const { error, message, ...fields } = value;
    return [
      ...base.check({ error, message }, path, seen),
      ...json.check(fields, path, seen)
    ];
  }
};

type EventOf<K extends RunEvent['kind']> = Extract<RunEvent, { kind: K }>;

const runEvent = byKind<RunEvent>('RunEvent.kind', {
  run_started: object<EventOf<'run_started'>>({
    kind: literal('run_started'),
    stage: nothing,
    message: string
  }),
  stage_started: object<EventOf<'stage_started'>>({
    kind: literal('stage_started'),
    stage: string,
    message: string
  }),
  stage_finished: object<EventOf<'stage_finished'>>({
    kind: literal('stage_finished'),
    stage: string,
    message: string,
    status: oneOf('StageStatus', STAGE_STATUSES),
    duration_s: number,
    reason: string,
    mlflow_run_id: nullable(string),
    error: nullable(stageError)
  }),
  run_finished: object<EventOf<'run_finished'>>({
    kind: literal('run_finished'),
    stage: nothing,
    message: runOutcome
  }),
  finished: object<EventOf<'finished'>>({
    kind: literal('finished'),
    run_id: string,
    status: runOutcome
  }),
  error: object<EventOf<'error'>>({
    kind: literal('error'),
    error: string,
    message: string
  })
});

const runRequest = {
  folder: string,
  stages: strings,
  downstream: boolean,
  force: boolean
};

const runStarted = object<RunStarted>({
  ...runRequest,
  id: string,
  status: literal('running')
});

const runStatus = object<RunStatus>({
  ...runRequest,
  id: string,
  status: oneOf('RunState', RUN_STATES),
  returncode: nullable(number),
  events: arrayOf(runEvent),
  log_tail: strings
});

const runHolder = object<RunHolder>({
  run_id: nullable(string),
  pid: number,
  host: string,
  user: string,
  since: string,
  command: string,
  server_run: nullable(string)
});

const runList = object<RunList>({
  active: nullable(runStatus),
  runs: strings,
  holder: nullable(runHolder)
});

const pointCounts = object<PointCounts>({
  pending: number,
  running: number,
  succeeded: number,
  failed: number,
  skipped: number
});

const sweepSummaryFields = {
  pipeline: string,
  sweep: string,
  total: number,
  counts: pointCounts,
  running: boolean,
  created_at: nullable(string),
  finished_at: nullable(string),
  mlflow_run_id: nullable(string),
  summary: nullable(string)
};

const sweepList = object<SweepList>({
  sweeps: arrayOf(object<SweepSummary>(sweepSummaryFields))
});

const sweepPoint = object<SweepPoint>({
  id: string,
  parameters: recordOf(recordOf(json)),
  status: oneOf('PointStatus', POINT_STATUSES),
  started_at: nullable(string),
  duration_s: nullable(number),
  metrics: recordOf(number),
  failed_stage: nullable(string),
  error_type: nullable(string),
  mlflow_run_id: nullable(string),
  log: nullable(string)
});

const sweep = object<Sweep>({
  ...sweepSummaryFields,
  swept: strings,
  points: arrayOf(sweepPoint)
});

const errorBody = object<ErrorBody>({
  error: optional(string),
  message: string,
  reason: optional(string),
  field: optional(string),
  upstream: optional(string),
  param: optional(string),
  stage: optional(string),
  path: optional(string),
  kernel: optional(string),
  cycle: optional(strings),
  handle: optional(string),
  pid: optional(number),
  host: optional(string),
  user: optional(string),
  since: optional(string),
  command: optional(string),
  cell_index: optional(number),
  line: optional(number),
  limit: optional(number),
  pipeline: optional(string),
  sweep: optional(string)
});

/** A guard for each answer type, by the type's name in api.ts. */
export const ANSWERS = {
  Pipeline: pipeline,
  StageContext: stageContext,
  Validated: validated,
  StagePaths: stagePaths,
  RunStarted: runStarted,
  RunStatus: runStatus,
  RunList: runList,
  SweepList: sweepList,
  Sweep: sweep,
  ErrorBody: errorBody
};

export type AnswerType = keyof typeof ANSWERS;
