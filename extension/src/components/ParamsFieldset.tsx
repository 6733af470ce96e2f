import React from 'react';

import { FieldErrors, PARAM_TYPES, ParamRow, ParamType } from '../metadata';
import { FieldError } from './FieldError';

interface Props {
  params: ParamRow[];
  errors: FieldErrors;
  onChange: (params: ParamRow[]) => void;
}

/**
 * The Stage form's parameters: one row (name, type, default, remove) per parameter, each with
 * its own error line (`params.<name>`), and "Add parameter".
 */
export function ParamsFieldset({
  params,
  errors,
  onChange
}: Props): JSX.Element {
  const editRow = (i: number, change: Partial<ParamRow>): void =>
    onChange(params.map((p, j) => (j === i ? { ...p, ...change } : p)));
  return (
    <fieldset>
      <legend>Parameters</legend>
      {params.map((row, i) => (
        <div key={i}>
          <div className="nbmlops-StageForm-param">
            <input
              name="param-name"
              aria-label="parameter name"
              className="jp-mod-styled"
              placeholder="name"
              value={row.name}
              onChange={e => editRow(i, { name: e.target.value })}
            />
            <select
              name="param-type"
              aria-label={`type of ${row.name}`}
              className="jp-mod-styled"
              value={row.type}
              onChange={e => editRow(i, { type: e.target.value as ParamType })}
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
              onChange={e => editRow(i, { text: e.target.value })}
            />
            <button
              type="button"
              className="jp-Button jp-mod-styled jp-mod-reject"
              data-action="remove-param"
              aria-label={`remove parameter ${row.name}`}
              onClick={() => onChange(params.filter((_, j) => j !== i))}
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
          onChange([...params, { name: '', type: 'str', text: '' }])
        }
      >
        Add parameter
      </button>
      <FieldError field="params" errors={errors} />
    </fieldset>
  );
}
