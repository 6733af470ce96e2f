import React from 'react';

import type { FieldErrors, InputRow } from '../metadata';
import { FieldError } from './FieldError';

interface Props {
  inputs: InputRow[];
  errors: FieldErrors;
  onChange: (inputs: InputRow[]) => void;
}

/**
 * The Stage form's declared inputs: one row (name, path from the project root, remove) per
 * input, and "Add input". The runner digests each by content and injects its absolute path.
 */
export function InputsFieldset({
  inputs,
  errors,
  onChange
}: Props): JSX.Element {
  const editRow = (i: number, change: Partial<InputRow>): void =>
    onChange(inputs.map((p, j) => (j === i ? { ...p, ...change } : p)));
  return (
    <fieldset>
      <legend>Inputs</legend>
      {inputs.map((row, i) => (
        <div key={i} className="nbmlops-StageForm-input">
          <input
            name="input-key"
            aria-label="input name"
            className="jp-mod-styled"
            placeholder="name"
            value={row.key}
            onChange={e => editRow(i, { key: e.target.value })}
          />
          <input
            name="input-path"
            aria-label="input path"
            className="jp-mod-styled"
            placeholder="from the project root, e.g. data/extract.parquet"
            value={row.path}
            onChange={e => editRow(i, { path: e.target.value })}
          />
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-reject"
            data-action="remove-input"
            aria-label={`remove input ${row.key}`}
            onClick={() => onChange(inputs.filter((_, j) => j !== i))}
          >
            ✕
          </button>
        </div>
      ))}
      <button
        type="button"
        className="jp-Button jp-mod-styled jp-mod-reject"
        data-action="add-input"
        onClick={() => onChange([...inputs, { key: '', path: '' }])}
      >
        Add input
      </button>
      <FieldError field="inputs" errors={errors} />
    </fieldset>
  );
}
