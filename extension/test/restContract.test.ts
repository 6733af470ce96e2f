/**
 * The REST contract, the frontend's half: every answer the real server gave
 * (test/fixtures/rest/, recorded and kept in step with the server by
 * tests/test_rest_contract.py) is what api.ts's types say, checked by the guards in
 * apiGuards.ts; and every value api.ts lists (stage states, stale reasons, run states...) was
 * met in a real answer. A server change that api.ts does not follow fails here.
 */
import { describe, expect, it } from 'vitest';

import { ANSWERS, AnswerType, LITERALS, Seen } from '../src/apiGuards';
import { answer, FIXTURES, RestFixture } from './restFixtures';

function check(name: string, fixture: RestFixture, seen: Seen): string[] {
  const guard = ANSWERS[fixture.answer as AnswerType];
  if (!guard) {
    return [`${name}: no guard for answer type ${fixture.answer}`];
  }
  return guard.check(fixture.body, name, seen);
}

describe('the server answers what api.ts says', () => {
  it('has the answers tests/test_rest_contract.py recorded', () => {
    expect(FIXTURES.size).toBeGreaterThanOrEqual(25);
  });

  it.each([...FIXTURES])('%s', (name, fixture) => {
    expect(check(name, fixture, new Map())).toEqual([]);
    // 4xx answers are errors, the others the route's own type
    expect(fixture.status >= 400, name).toBe(fixture.answer === 'ErrorBody');
  });

  it('gives every answer type api.ts declares', () => {
    const given = new Set([...FIXTURES.values()].map(f => f.answer));
    expect([...given].sort()).toEqual(Object.keys(ANSWERS).sort());
  });

  it('gives every value api.ts lists, and api.ts lists no value it never gives', () => {
    const seen: Seen = new Map();
    for (const [name, fixture] of FIXTURES) {
      check(name, fixture, seen);
    }
    const met = Object.fromEntries(
      [...LITERALS.keys()].map(list => [
        list,
        [...(seen.get(list) ?? [])].sort()
      ])
    );
    const listed = Object.fromEntries(
      [...LITERALS].map(([list, values]) => [list, [...values].sort()])
    );
    expect(met).toEqual(listed);
    expect(Object.keys(listed).sort()).toEqual([
      'ParamType',
      'PointStatus',
      'ReasonKind',
      'RunEvent.kind',
      'RunOutcome',
      'RunState',
      'ServerState',
      'StageStatus'
    ]);
  });
});

describe('the guards refuse what api.ts does not say', () => {
  const problems = (name: string, change: (body: any) => void): string[] => {
    const fixture = FIXTURES.get(name)!;
    const body = answer<any>(name);
    change(body);
    return check(name, { ...fixture, body }, new Map());
  };

  it.each([
    [
      'a stage state it does not know',
      'pipeline-never-run',
      (b: any) => (b.stages[0].state = 'paused'),
      'pipeline-never-run.stages[0].state: "paused" is no ServerState'
    ],
    [
      'a stale reason it does not know',
      'pipeline-source-changed',
      (b: any) => (b.stages[1].reasons[0].kind = 'forced'),
      'pipeline-source-changed.stages[1].reasons[0].kind: "forced" is no ReasonKind'
    ],
    [
      'a run state it does not know',
      'run-running',
      (b: any) => (b.status = 'queued'),
      'run-running.status: "queued" is no RunState'
    ],
    [
      'an event it does not know',
      'run-succeeded',
      (b: any) => b.events.push({ kind: 'note', stage: null, message: 'x' }),
      'run-succeeded.events[9].kind: "note" is no RunEvent.kind'
    ],
    [
      'a key it does not name',
      'runs-none',
      (b: any) => (b.queue = []),
      'runs-none.queue: a key the type does not name'
    ],
    [
      'a missing key',
      'pipeline-up-to-date',
      (b: any) => delete b.stages[2].mlflow_url,
      'pipeline-up-to-date.stages[2].mlflow_url: missing'
    ],
    [
      'a value of another type',
      'run-failed',
      (b: any) => (b.events[4].duration_s = '3 s'),
      'run-failed.events[4].duration_s: "3 s" is not a number'
    ]
  ])('%s', (_, name, change, expected) => {
    expect(problems(name, change).join('\n')).toContain(expected);
  });
});
