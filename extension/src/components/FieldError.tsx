import React from 'react';

import type { FieldErrors } from '../metadata';

interface Props {
  /** The field the message is about ("" for the form as a whole). */
  field: string;
  errors: FieldErrors;
}

/** The server's (or the form's) message about one field, under that field; nothing when none. */
export function FieldError({ field, errors }: Props): JSX.Element | null {
  const message = errors[field];
  return message ? (
    <div className="nbmlops-StageForm-error" data-field={field} role="alert">
      {message}
    </div>
  ) : null;
}
