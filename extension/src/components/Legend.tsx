import React from 'react';

import type { StageState } from '../progress';
import { STATE_LABELS } from './labels';

/** What the node colours mean. */
export function Legend(): JSX.Element {
  const states = Object.keys(STATE_LABELS) as StageState[];
  return (
    <ul className="nbmlops-Legend" aria-label="Stage states">
      {states.map(state => (
        <li key={state} data-state={state}>
          <span className="nbmlops-Legend-swatch" aria-hidden="true" />
          {STATE_LABELS[state]}
        </li>
      ))}
    </ul>
  );
}
