/// <reference types="vite/client" />
/**
 * The server's real answers, recorded by tests/test_rest_contract.py (paths, ids and times
 * normalised): one file per answer in fixtures/rest/, each naming its request, HTTP status and
 * the api.ts type it is.
 */

export interface RestFixture {
  request: { method: string; route: string; body?: unknown };
  status: number;
  /** The api.ts type of the body (a key of apiGuards.ANSWERS). */
  answer: string;
  body: unknown;
}

const files = import.meta.glob<RestFixture>('./fixtures/rest/*.json', {
  eager: true,
  import: 'default'
});

/** Every recorded answer, by its file's name without `.json`. */
export const FIXTURES = new Map(
  Object.entries(files).map(([path, fixture]) => [
    path.replace(/^.*\/([^/]+)\.json$/, '$1'),
    fixture
  ])
);

/**
 * The body of a recorded answer, as its api.ts type (restContract.test.ts checks that it is);
 * a fresh copy each time, so a test can change it.
 */
export function answer<T>(name: string): T {
  const fixture = FIXTURES.get(name);
  if (!fixture) {
    throw new Error(`no recorded answer ${name} in test/fixtures/rest`);
  }
  return structuredClone(fixture.body) as T;
}
