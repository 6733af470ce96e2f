import React from 'react';

/** An error from the server, in the panel or the form (announced to screen readers). */
export function ErrorBox({ message }: { message: string }): JSX.Element {
  return (
    <div className="nbmlops-Error" role="alert" aria-live="assertive">
      {message}
    </div>
  );
}
