/**
 * The Stage form's state and the `nbmlops` notebook metadata it edits (the contract in
 * nbmlops/schema/stage.v1.json). Pure functions: the server validates what they produce; this
 * module only turns form text into JSON values and back, and says when text is not a value.
 */

export type JSONPrimitive = string | number | boolean | null;
export type JSONValue =
  JSONPrimitive | JSONValue[] | { [key: string]: JSONValue };
export type JSONObject = { [key: string]: JSONValue };

export const PARAM_TYPES = [
  'int',
  'float',
  'str',
  'bool',
  'list',
  'dict'
] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

export interface ParamRow {
  name: string;
  type: ParamType;
  text: string;
}

export interface ProductRow {
  key: string;
  path: string;
}

/** A declared input: its name and its path relative to the project root. */
export type InputRow = ProductRow;

export interface FormState {
  stage: string;
  upstream: string[];
  products: ProductRow[];
  inputs: InputRow[];
  params: ParamRow[];
  kernel: string;
  environment: string;
}

export interface StageMetadata {
  stage: string;
  upstream: string[];
  products: { [key: string]: string };
  /** Declared inputs (schema v2): name -> path relative to the project root. */
  inputs?: { [key: string]: string };
  params: JSONObject;
  kernel?: string;
  environment?: string;
}

/**
 * Errors keyed by field: "stage", "upstream", "products", "inputs", "params.<name>", "kernel",
 * "" (general).
 */
export type FieldErrors = { [field: string]: string };

function isObject(value: JSONValue | undefined): value is JSONObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The form type a JSON value reads as (integral numbers read as int: JSON cannot tell 1.0). */
export function typeOf(value: JSONValue): ParamType {
  if (typeof value === 'boolean') {
    return 'bool';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? 'int' : 'float';
  }
  if (Array.isArray(value)) {
    return 'list';
  }
  if (isObject(value)) {
    return 'dict';
  }
  return 'str';
}

/** A value as the text its input shows (a float keeps its decimal point: 1 shows as 1.0). */
export function formatValue(value: JSONValue, type?: ParamType): string {
  if (typeof value === 'string') {
    return value;
  }
  if (
    type === 'float' &&
    typeof value === 'number' &&
    Number.isInteger(value)
  ) {
    return value.toFixed(1);
  }
  if (value === null) {
    return '';
  }
  if (typeof value === 'object') {
    return JSON.stringify(value);
  }
  return String(value);
}

export type Parsed =
  { ok: true; value: JSONValue } | { ok: false; error: string };

const INT = /^[+-]?\d+$/;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** The JSON value of a parameter's text for its type, or why the text is not one. */
export function parseParam(
  name: string,
  type: ParamType,
  text: string
): Parsed {
  const shown = name || 'this parameter';
  const trimmed = text.trim();
  switch (type) {
    case 'str':
      return { ok: true, value: text };
    case 'int':
      if (!INT.test(trimmed) || !Number.isSafeInteger(Number(trimmed))) {
        return {
          ok: false,
          error: `${shown}: "${text}" is not a whole number`
        };
      }
      return { ok: true, value: Number(trimmed) };
    case 'float':
      if (!FLOAT.test(trimmed) || !Number.isFinite(Number(trimmed))) {
        return { ok: false, error: `${shown}: "${text}" is not a number` };
      }
      return { ok: true, value: Number(trimmed) };
    case 'bool':
      if (trimmed !== 'true' && trimmed !== 'false') {
        return { ok: false, error: `${shown}: write true or false` };
      }
      return { ok: true, value: trimmed === 'true' };
    case 'list':
    case 'dict': {
      let value: JSONValue;
      try {
        value = JSON.parse(trimmed) as JSONValue;
      } catch {
        return {
          ok: false,
          error: `${shown}: not JSON (e.g. ${type === 'list' ? '[1, 2]' : '{"a": 1}'})`
        };
      }
      const shape = Array.isArray(value)
        ? 'list'
        : isObject(value)
          ? 'dict'
          : 'other';
      if (shape !== type) {
        return {
          ok: false,
          error: `${shown}: a JSON ${type === 'list' ? 'array' : 'object'} is expected`
        };
      }
      return { ok: true, value };
    }
  }
}

function asStringList(value: JSONValue | undefined): string[] {
  return Array.isArray(value)
    ? value.filter((v): v is string => typeof v === 'string')
    : [];
}

/**
 * The form for a notebook: its current metadata (if tagged) and the names its parameters cell
 * assigns (`cellParams`, from the server, with `cellTypes`: the literals' Python types, since
 * JSON cannot tell 1.0 from 1). Metadata params come first in their order, then the names only
 * the cell has; a null cell value (not a literal) starts as an empty str.
 */
export function toFormState(
  metadata: JSONValue | undefined,
  cellParams: { [name: string]: JSONValue },
  defaultKernel: string,
  cellTypes: { [name: string]: string } = {}
): FormState {
  const meta: JSONObject = isObject(metadata) ? metadata : {};
  const params: ParamRow[] = [];
  const declared = isObject(meta.params) ? meta.params : {};
  const typed = (name: string, value: JSONValue): ParamType => {
    const fromCell = cellTypes[name];
    const known = PARAM_TYPES.find(t => t === fromCell);
    // the cell's float wins over an integral JSON number; otherwise the value says
    return known === 'float' && typeof value === 'number'
      ? 'float'
      : value === null
        ? (known ?? 'str')
        : typeOf(value);
  };
  for (const [name, value] of Object.entries(declared)) {
    const type = typed(name, value);
    params.push({ name, type, text: formatValue(value, type) });
  }
  for (const [name, value] of Object.entries(cellParams)) {
    if (!(name in declared)) {
      const type = typed(name, value);
      params.push({ name, type, text: formatValue(value, type) });
    }
  }
  const rows = (value: JSONValue | undefined): ProductRow[] =>
    isObject(value)
      ? Object.entries(value).map(([key, path]) => ({
          key,
          path: formatValue(path)
        }))
      : [];
  return {
    stage: typeof meta.stage === 'string' ? meta.stage : '',
    upstream: asStringList(meta.upstream),
    products: rows(meta.products),
    inputs: rows(meta.inputs),
    params,
    kernel: typeof meta.kernel === 'string' ? meta.kernel : defaultKernel,
    environment: typeof meta.environment === 'string' ? meta.environment : ''
  };
}

export type Converted =
  { ok: true; metadata: StageMetadata } | { ok: false; errors: FieldErrors };

/**
 * The metadata the form describes, or the errors that keep it from being one (a value that does
 * not parse, a duplicate or empty name). Names and patterns are the server's to judge.
 */
export function toMetadata(form: FormState): Converted {
  const errors: FieldErrors = {};
  const params: JSONObject = {};
  for (const row of form.params) {
    const field = `params.${row.name}`;
    if (!row.name.trim()) {
      errors['params'] = 'a parameter needs a name';
      continue;
    }
    if (row.name in params) {
      errors[field] = `${row.name}: named twice`;
      continue;
    }
    const parsed = parseParam(row.name, row.type, row.text);
    if (parsed.ok) {
      params[row.name] = parsed.value;
    } else {
      errors[field] = parsed.error;
    }
  }
  const products = namedPaths(form.products, 'products', 'a product', errors);
  const inputs = namedPaths(form.inputs, 'inputs', 'an input', errors);
  if (Object.keys(errors).length) {
    return { ok: false, errors };
  }
  const metadata: StageMetadata = {
    stage: form.stage.trim(),
    upstream: [...form.upstream],
    products,
    params
  };
  if (Object.keys(inputs).length) {
    metadata.inputs = inputs; // none: no key, so a v1 notebook stays as it was
  }
  if (form.kernel) {
    metadata.kernel = form.kernel;
  }
  if (form.environment.trim()) {
    metadata.environment = form.environment.trim();
  }
  return { ok: true, metadata };
}

/** Rows of names and paths as an object; a half-filled or repeated row is an error. */
function namedPaths(
  rows: ProductRow[],
  field: string,
  what: string,
  errors: FieldErrors
): { [key: string]: string } {
  const found: { [key: string]: string } = {};
  for (const row of rows) {
    if (!row.key.trim() && !row.path.trim()) {
      continue; // an empty row the user has not filled in yet
    }
    if (!row.key.trim() || !row.path.trim()) {
      errors[field] = `${what} needs a name and a path`;
    } else if (row.key.trim() in found) {
      errors[field] = `${row.key}: named twice`;
    } else {
      found[row.key.trim()] = row.path.trim();
    }
  }
  return found;
}

/** Where a server error belongs in the form, from the error's `field`/`upstream`/`param`. */
export function errorField(error: {
  field?: string;
  upstream?: string;
  param?: string;
}): string {
  if (error.upstream !== undefined) {
    return 'upstream';
  }
  if (error.param) {
    return `params.${error.param}`;
  }
  const field = error.field ?? '';
  const [head, rest] = [
    field.split('.')[0],
    field.split('.').slice(1).join('.')
  ];
  if (head === 'params' && rest) {
    return `params.${rest}`;
  }
  return [
    'stage',
    'upstream',
    'products',
    'inputs',
    'params',
    'kernel',
    'environment'
  ].includes(head)
    ? head
    : '';
}
