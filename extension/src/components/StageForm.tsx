import React, { useEffect, useRef, useState } from 'react';

import { NbmlopsApiError, Validated } from '../api';
import { describeError } from '../controller';
import {
  errorField,
  FieldErrors,
  FormState,
  StageMetadata,
  toMetadata
} from '../metadata';
import { FieldError } from './FieldError';
import { ParamsFieldset } from './ParamsFieldset';
import { InputsFieldset } from './InputsFieldset';
import { ProductsFieldset } from './ProductsFieldset';
import { UpstreamFieldset } from './UpstreamFieldset';

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

      <UpstreamFieldset
        choices={props.choices}
        upstream={form.upstream}
        errors={errors}
        onChange={upstream => edit({ upstream })}
      />
      <InputsFieldset
        inputs={form.inputs}
        errors={errors}
        onChange={inputs => edit({ inputs })}
      />
      <ProductsFieldset
        products={form.products}
        errors={errors}
        onChange={products => edit({ products })}
      />
      <ParamsFieldset
        params={form.params}
        errors={errors}
        onChange={params => edit({ params })}
      />

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
