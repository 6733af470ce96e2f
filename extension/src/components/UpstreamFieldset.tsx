import React from 'react';

import type { FieldErrors } from '../metadata';
import { FieldError } from './FieldError';

interface Props {
  /** The other stages beside the notebook, from the server. */
  choices: { name: string; notebook: string }[];
  upstream: string[];
  errors: FieldErrors;
  onChange: (upstream: string[]) => void;
}

/** The Stage form's upstream stages: one checkbox per other stage in the folder. */
export function UpstreamFieldset(props: Props): JSX.Element {
  const { choices, upstream, errors, onChange } = props;
  return (
    <fieldset>
      <legend>Upstream stages</legend>
      {choices.length === 0 && (
        <span className="nbmlops-StageForm-empty">
          No other stage in this folder.
        </span>
      )}
      {choices.map(choice => (
        <label
          key={choice.name}
          className="nbmlops-StageForm-check"
          title={choice.notebook}
        >
          <input
            type="checkbox"
            name="upstream"
            value={choice.name}
            checked={upstream.includes(choice.name)}
            onChange={e =>
              onChange(
                e.target.checked
                  ? [...upstream, choice.name]
                  : upstream.filter(u => u !== choice.name)
              )
            }
          />
          {choice.name}
        </label>
      ))}
      <FieldError field="upstream" errors={errors} />
    </fieldset>
  );
}
