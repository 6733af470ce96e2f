import React, { useEffect, useRef, useState } from 'react';

import type { Validated } from '../api';
import { describeError } from '../controller';
import {
  errorField,
  FieldErrors,
  FormState,
  PARAM_TYPES,
  ParamType,
  StageMetadata,
  toMetadata
} from '../metadata';
import { NbmlopsApiError } from '../api';

export type FormStatus =
  'idle' | 'validating' | 'valid' | 'invalid' | 'saving' | 'saved';

export interface StageFormProps {
  path: string;
  initial: FormState;
  kernels: { name: string; display: string }[];
  choices: { name: string; notebook: string }[];
  problems: { notebook: string; message: string }[];
  validate: (metadata: StageMetadata) => Promise<Validated>;
  save: (answer: Validated) => Promise<void>;
  close: () => void;
}

const DEBOUNCE_MS = 400;

function FieldError({
  field,
  errors
}: {
  field: string;
  errors: FieldErrors;
}): JSX.Element | null {
  const message = errors[field];
  return message ? (
    <div className="nbmlops-StageForm-error" data-field={field} role="alert">
      {message}
    </div>
  ) : null;
}

/**
 * The Stage form: edits a notebook's stage metadata. Every change is checked by the server (the
 * CLI's schema and checks) after a short pause; Save writes only what the server accepted.
 */
export function StageForm(props: StageFormProps): JSX.Element {
  const [form, setForm] = useState<FormState>(props.initial);
  const [status, setStatus] = useState<FormStatus>(
    props.initial.stage ? 'validating' : 'idle'
  );
  const [errors, setErrors] = useState<FieldErrors>({});
  const [touched, setTouched] = useState(Boolean(props.initial.stage));
  const answer = useRef<Validated | null>(null);
  const generation = useRef(0);

  useEffect(() => {
    if (!touched) {
      return;
    }
    const mine = ++generation.current;
    answer.current = null;
    const converted = toMetadata(form);
    if (!converted.ok) {
      setErrors(converted.errors);
      setStatus('invalid');
      return;
    }
    setStatus('validating');
    const timer = window.setTimeout(() => {
      props.validate(converted.metadata).then(
        validated => {
          if (mine === generation.current) {
            answer.current = validated;
            setErrors({});
            setStatus('valid');
          }
        },
        error => {
          if (mine === generation.current) {
            const field =
              error instanceof NbmlopsApiError ? errorField(error.body) : '';
            setErrors({ [field]: describeError(error) });
            setStatus('invalid');
          }
        }
      );
    }, DEBOUNCE_MS);
    return () => window.clearTimeout(timer);
  }, [form, touched]);

  const edit = (change: Partial<FormState>): void => {
    setTouched(true);
    setForm(current => ({ ...current, ...change }));
  };
  const editParam = (
    i: number,
    change: Partial<{ name: string; type: ParamType; text: string }>
  ): void =>
    edit({
      params: form.params.map((p, j) => (j === i ? { ...p, ...change } : p))
    });
  const editProduct = (
    i: number,
    change: Partial<{ key: string; path: string }>
  ): void =>
    edit({
      products: form.products.map((p, j) => (j === i ? { ...p, ...change } : p))
    });

  const save = async (): Promise<void> => {
    const validated = answer.current;
    if (!validated || status !== 'valid') {
      return;
    }
    setStatus('saving');
    try {
      await props.save(validated);
      setStatus('saved');
      props.close();
    } catch (error) {
      setErrors({ '': `Not saved: ${describeError(error)}` });
      setStatus('invalid');
    }
  };

  const kernels =
    props.kernels.some(k => k.name === form.kernel) || !form.kernel
      ? props.kernels
      : [
          ...props.kernels,
          { name: form.kernel, display: `${form.kernel} (not installed here)` }
        ];

  return (
    <form
      className="nbmlops-StageForm"
      data-state={status}
      onSubmit={e => {
        e.preventDefault();
        void save();
      }}
    >
      <h2>
        Stage of <code>{props.path}</code>
      </h2>
      <p className="nbmlops-StageForm-hint">
        Checked by the server as you type, with the same rules as{' '}
        <code>nbmlops stage set</code>. Saving writes the notebook's{' '}
        <code>nbmlops</code> metadata and keeps its <code>parameters</code> cell
        in step.
      </p>
      <FieldError field="" errors={errors} />
      {props.problems.map(p => (
        <div key={p.notebook} className="nbmlops-StageForm-warning">
          {p.notebook}: {p.message}
        </div>
      ))}
      <label className="nbmlops-StageForm-field">
        Stage name
        <input
          name="stage"
          className="jp-mod-styled"
          value={form.stage}
          placeholder="e.g. train"
          autoFocus
          onChange={e => edit({ stage: e.target.value })}
        />
      </label>
      <FieldError field="stage" errors={errors} />

      <fieldset>
        <legend>Upstream stages</legend>
        {props.choices.length === 0 && (
          <span className="nbmlops-StageForm-empty">
            No other stage in this folder.
          </span>
        )}
        {props.choices.map(choice => (
          <label
            key={choice.name}
            className="nbmlops-StageForm-check"
            title={choice.notebook}
          >
            <input
              type="checkbox"
              name="upstream"
              value={choice.name}
              checked={form.upstream.includes(choice.name)}
              onChange={e =>
                edit({
                  upstream: e.target.checked
                    ? [...form.upstream, choice.name]
                    : form.upstream.filter(u => u !== choice.name)
                })
              }
            />
            {choice.name}
          </label>
        ))}
        <FieldError field="upstream" errors={errors} />
      </fieldset>

      <fieldset>
        <legend>Products</legend>
        {form.products.map((row, i) => (
          <div key={i} className="nbmlops-StageForm-product">
            <input
              name="product-key"
              aria-label="product name"
              className="jp-mod-styled"
              placeholder="name"
              value={row.key}
              onChange={e => editProduct(i, { key: e.target.value })}
            />
            <input
              name="product-path"
              aria-label="product path"
              className="jp-mod-styled"
              placeholder="path, e.g. model.skops"
              value={row.path}
              onChange={e => editProduct(i, { path: e.target.value })}
            />
            <button
              type="button"
              className="jp-Button jp-mod-styled jp-mod-reject"
              data-action="remove-product"
              aria-label={`remove product ${row.key}`}
              onClick={() =>
                edit({ products: form.products.filter((_, j) => j !== i) })
              }
            >
              ✕
            </button>
          </div>
        ))}
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject"
          data-action="add-product"
          onClick={() =>
            edit({ products: [...form.products, { key: '', path: '' }] })
          }
        >
          Add product
        </button>
        <FieldError field="products" errors={errors} />
      </fieldset>

      <fieldset>
        <legend>Parameters</legend>
        {form.params.map((row, i) => (
          <div key={i}>
            <div className="nbmlops-StageForm-param">
              <input
                name="param-name"
                aria-label="parameter name"
                className="jp-mod-styled"
                placeholder="name"
                value={row.name}
                onChange={e => editParam(i, { name: e.target.value })}
              />
              <select
                name="param-type"
                aria-label={`type of ${row.name}`}
                className="jp-mod-styled"
                value={row.type}
                onChange={e =>
                  editParam(i, { type: e.target.value as ParamType })
                }
              >
                {PARAM_TYPES.map(t => (
                  <option key={t} value={t}>
                    {t}
                  </option>
                ))}
              </select>
              <input
                name="param-value"
                aria-label={`default of ${row.name}`}
                className="jp-mod-styled"
                placeholder="default"
                value={row.text}
                onChange={e => editParam(i, { text: e.target.value })}
              />
              <button
                type="button"
                className="jp-Button jp-mod-styled jp-mod-reject"
                data-action="remove-param"
                aria-label={`remove parameter ${row.name}`}
                onClick={() =>
                  edit({ params: form.params.filter((_, j) => j !== i) })
                }
              >
                ✕
              </button>
            </div>
            <FieldError field={`params.${row.name}`} errors={errors} />
          </div>
        ))}
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject"
          data-action="add-param"
          onClick={() =>
            edit({
              params: [...form.params, { name: '', type: 'str', text: '' }]
            })
          }
        >
          Add parameter
        </button>
        <FieldError field="params" errors={errors} />
      </fieldset>

      <label className="nbmlops-StageForm-field">
        Kernel
        <select
          name="kernel"
          className="jp-mod-styled"
          value={form.kernel}
          onChange={e => edit({ kernel: e.target.value })}
        >
          {kernels.map(k => (
            <option key={k.name} value={k.name}>
              {k.display}
            </option>
          ))}
        </select>
      </label>
      <FieldError field="kernel" errors={errors} />
      <label className="nbmlops-StageForm-field">
        Environment lock (optional)
        <input
          name="environment"
          className="jp-mod-styled"
          placeholder="uv.lock"
          value={form.environment}
          onChange={e => edit({ environment: e.target.value })}
        />
      </label>
      <FieldError field="environment" errors={errors} />

      <div className="nbmlops-StageForm-actions" aria-live="polite">
        <span className="nbmlops-StageForm-status">
          {
            {
              idle: '',
              validating: 'Checking…',
              valid: 'Valid',
              invalid: 'Fix the errors above',
              saving: 'Saving…',
              saved: 'Saved'
            }[status]
          }
        </span>
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject"
          data-action="cancel"
          onClick={props.close}
        >
          Cancel
        </button>
        <button
          type="submit"
          className="jp-Button jp-mod-styled jp-mod-accept"
          data-action="save"
          disabled={status !== 'valid'}
        >
          Save
        </button>
      </div>
    </form>
  );
}
