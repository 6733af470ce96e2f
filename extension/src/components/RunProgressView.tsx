import React, { useEffect, useRef } from 'react';

import type { RunStatus } from '../api';
import type { RunProgress } from '../progress';

interface Props {
  run: RunStatus;
  progress: RunProgress;
  total: number;
  startedAt: number | null;
}

function elapsed(startedAt: number | null): string {
  if (startedAt === null) {
    return '';
  }
  const seconds = Math.round((Date.now() - startedAt) / 1000);
  return seconds >= 60
    ? `${Math.floor(seconds / 60)} min ${seconds % 60} s`
    : `${seconds} s`;
}

/** A run's progress line (n of m stages, the current one, elapsed time) and its log's tail. */
export function RunProgressView({
  run,
  progress,
  total,
  startedAt
}: Props): JSX.Element {
  const log = useRef<HTMLPreElement>(null);
  useEffect(() => {
    if (log.current) {
      log.current.scrollTop = log.current.scrollHeight;
    }
  }, [run.log_tail.length, run.log_tail[run.log_tail.length - 1]]);
  const done = Object.keys(progress.finished).length;
  const planned =
    run.stages.length && !run.downstream ? run.stages.length : total;
  const line =
    run.status === 'running'
      ? `Running: ${done} of ${planned} stages finished${progress.current ? `, now ${progress.current}` : ''}`
      : `Run ${run.status}: ${done} stage${done === 1 ? '' : 's'} finished`;
  return (
    <div
      className="nbmlops-Progress"
      data-status={run.status}
      data-run={run.id}
      aria-live="polite"
    >
      <div className="nbmlops-Progress-line">
        <span>{line}</span>
        {run.status === 'running' && (
          <span className="nbmlops-Progress-elapsed">{elapsed(startedAt)}</span>
        )}
      </div>
      <progress
        max={Math.max(planned, 1)}
        value={done}
        aria-label="stages finished"
      />
      <pre className="nbmlops-Log" ref={log} aria-label="log tail">
        {run.log_tail.join('\n')}
      </pre>
    </div>
  );
}
