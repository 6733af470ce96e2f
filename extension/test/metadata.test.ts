import { describe, expect, it } from 'vitest';

import {
  errorField,
  FormState,
  parseParam,
  toFormState,
  toMetadata,
  typeOf
} from '../src/metadata';

const TAGGED = {
  stage: 'train',
  upstream: ['features'],
  products: { model: 'model.skops', metrics: 'metrics.json' },
  params: {
    n_estimators: 200,
    learning_rate: 0.1,
    label: 'adherent',
    early: true,
    grid: [1, 2],
    opts: { a: 1 }
  },
  kernel: 'python3',
  environment: 'uv.lock'
};

describe('form state and metadata', () => {
  it('round-trips tagged metadata, keeping the order of products and params', () => {
    const form = toFormState(TAGGED, {}, 'other-kernel');
    expect(form.params.map(p => [p.name, p.type])).toEqual([
      ['n_estimators', 'int'],
      ['learning_rate', 'float'],
      ['label', 'str'],
      ['early', 'bool'],
      ['grid', 'list'],
      ['opts', 'dict']
    ]);
    expect(form.kernel).toBe('python3');
    const back = toMetadata(form);
    expect(back).toEqual({ ok: true, metadata: TAGGED });
    expect(Object.keys(back.ok ? back.metadata.products : {})).toEqual([
      'model',
      'metrics'
    ]);
  });

  it('omits an empty environment and uses the notebook kernel for an untagged notebook', () => {
    const form = toFormState(undefined, {}, 'ir');
    expect(form).toEqual({
      stage: '',
      upstream: [],
      products: [],
      inputs: [],
      params: [],
      kernel: 'ir',
      environment: ''
    });
    const back = toMetadata({ ...form, stage: 'load', environment: '  ' });
    expect(back).toEqual({
      ok: true,
      metadata: {
        stage: 'load',
        upstream: [],
        products: {},
        params: {},
        kernel: 'ir'
      }
    });
  });

  it('adds the names only the parameters cell has after the declared ones', () => {
    const form = toFormState(
      { stage: 's', params: { seed: 42 } },
      { seed: 7, scale: 2.5, note: 'x', f: null },
      'python3'
    );
    expect(form.params).toEqual([
      { name: 'seed', type: 'int', text: '42' }, // the metadata wins over the cell
      { name: 'scale', type: 'float', text: '2.5' },
      { name: 'note', type: 'str', text: 'x' },
      { name: 'f', type: 'str', text: '' } // not a literal: the user types its default
    ]);
  });

  it('reports values that do not parse, duplicate names and half-filled products', () => {
    const form: FormState = {
      stage: 'train',
      upstream: [],
      products: [
        { key: 'model', path: '' },
        { key: '', path: '' }
      ],
      inputs: [
        { key: 'extract', path: 'a.csv' },
        { key: 'extract', path: 'b.csv' }
      ],
      params: [
        { name: 'n', type: 'int', text: '3.5' },
        { name: 'm', type: 'int', text: '1' },
        { name: 'm', type: 'int', text: '2' },
        { name: '', type: 'str', text: 'x' }
      ],
      kernel: 'python3',
      environment: ''
    };
    const result = toMetadata(form);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors['params.n']).toContain('n');
      expect(result.errors['params.m']).toContain('named twice');
      expect(result.errors['params']).toContain('name');
      expect(result.errors['products']).toContain('name and a path');
      expect(result.errors['inputs']).toContain('extract: named twice');
    }
  });

  it('round-trips declared inputs and leaves them out when there are none', () => {
    const tagged = { ...TAGGED, inputs: { extract: 'data/extract.parquet' } };
    const form = toFormState(tagged, {}, 'python3');
    expect(form.inputs).toEqual([
      { key: 'extract', path: 'data/extract.parquet' }
    ]);
    expect(toMetadata(form)).toEqual({ ok: true, metadata: tagged });
    const none = toMetadata({ ...form, inputs: [{ key: ' ', path: '' }] });
    expect(none.ok && 'inputs' in none.metadata).toBe(false);
    const half = toMetadata({ ...form, inputs: [{ key: 'raw', path: '' }] });
    expect(half.ok ? {} : half.errors).toEqual({
      inputs: 'an input needs a name and a path'
    });
    expect(errorField({ field: 'inputs.extract' })).toBe('inputs');
  });
});

describe('float defaults JSON cannot tell from integers', () => {
  it("takes the parameters cell's type and shows the decimal point", () => {
    // metadata saved by JupyterLab holds C: 1 for the cell's `C = 1.0`
    const form = toFormState(
      { stage: 's', params: { C: 1, n: 3 } },
      { C: 1, n: 3, lr: 2 },
      'python3',
      {
        C: 'float',
        n: 'int',
        lr: 'float'
      }
    );
    expect(form.params).toEqual([
      { name: 'C', type: 'float', text: '1.0' },
      { name: 'n', type: 'int', text: '3' },
      { name: 'lr', type: 'float', text: '2.0' }
    ]);
    expect(parseParam('C', 'float', '1.0')).toEqual({ ok: true, value: 1 });
  });
});

describe('parameter values by type', () => {
  it('int takes whole numbers only', () => {
    expect(parseParam('n', 'int', ' 42 ')).toEqual({ ok: true, value: 42 });
    expect(parseParam('n', 'int', '-3')).toEqual({ ok: true, value: -3 });
    for (const bad of ['3.5', 'abc', '', '1e3', '99999999999999999999']) {
      const parsed = parseParam('n', 'int', bad);
      expect(parsed.ok).toBe(false);
      expect(parsed.ok ? '' : parsed.error).toMatch(/^n: /);
    }
  });

  it('float takes decimal and scientific notation', () => {
    expect(parseParam('lr', 'float', '1e-3')).toEqual({
      ok: true,
      value: 0.001
    });
    expect(parseParam('lr', 'float', '.5')).toEqual({ ok: true, value: 0.5 });
    expect(parseParam('lr', 'float', 'NaN').ok).toBe(false);
    expect(parseParam('lr', 'float', 'Infinity').ok).toBe(false);
  });

  it('bool takes true or false only; str keeps the text as typed', () => {
    expect(parseParam('b', 'bool', 'true')).toEqual({ ok: true, value: true });
    expect(parseParam('b', 'bool', 'false')).toEqual({
      ok: true,
      value: false
    });
    expect(parseParam('b', 'bool', 'True').ok).toBe(false);
    expect(parseParam('s', 'str', '  a b ')).toEqual({
      ok: true,
      value: '  a b '
    });
  });

  it('list and dict must be JSON of that shape', () => {
    expect(parseParam('l', 'list', '[1, "a"]')).toEqual({
      ok: true,
      value: [1, 'a']
    });
    expect(parseParam('d', 'dict', '{"a": [1]}')).toEqual({
      ok: true,
      value: { a: [1] }
    });
    expect(parseParam('l', 'list', '{"a": 1}').ok).toBe(false);
    expect(parseParam('d', 'dict', '[1]').ok).toBe(false);
    expect(parseParam('d', 'dict', "{'a': 1}").ok).toBe(false);
  });

  it('types read from JSON values', () => {
    expect([
      typeOf(1),
      typeOf(1.5),
      typeOf('x'),
      typeOf(false),
      typeOf([]),
      typeOf({})
    ]).toEqual(['int', 'float', 'str', 'bool', 'list', 'dict']);
  });
});

describe('where a server error shows', () => {
  it('maps the error fields to form fields', () => {
    expect(errorField({ field: 'stage' })).toBe('stage');
    expect(errorField({ field: 'params.seed' })).toBe('params.seed');
    expect(errorField({ field: 'upstream.1' })).toBe('upstream');
    expect(errorField({ upstream: 'nope' })).toBe('upstream');
    expect(errorField({ field: 'products.model' })).toBe('products');
    expect(errorField({ param: 'seed' })).toBe('params.seed');
    expect(errorField({ field: '' })).toBe('');
    expect(errorField({})).toBe('');
  });
});
