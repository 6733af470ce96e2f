import React from 'react';

import type { PipelineStage } from '../api';
import type { StageState } from '../progress';
import { SQLITE_HINT, STATE_LABELS } from './labels';

interface Props {
  stage: PipelineStage;
  state: StageState;
  error: string | null;
  busy: boolean;
  selected: boolean;
  onRun: () => void;
  onOpenExecuted: () => void;
  onOpenSource: () => void;
}

/** One stage under the graph: its state and why, run it (with downstream), its outputs. */
export function StageRow(props: Props): JSX.Element {
  const { stage, state, error, busy, selected } = props;
  const reasons = state === 'stale' ? stage.reasons : [];
  return (
    <li
      className={`nbmlops-StageRow${selected ? ' nbmlops-mod-selected' : ''}`}
      data-stage={stage.stage}
      data-state={state}
    >
      <div className="nbmlops-StageRow-head">
        <span className="nbmlops-StageRow-dot" aria-hidden="true" />
        <button
          className="nbmlops-StageRow-name"
          title={`Open ${stage.notebook}`}
          onClick={props.onOpenSource}
        >
          {stage.stage}
        </button>
        <span className="nbmlops-StageRow-state">{STATE_LABELS[state]}</span>
      </div>
      {reasons.length > 0 && (
        <ul className="nbmlops-StageRow-reasons">
          {reasons.map(r => (
            <li key={`${r.kind}:${r.subject ?? ''}`} data-kind={r.kind}>
              {r.text}
            </li>
          ))}
        </ul>
      )}
      {error && <div className="nbmlops-StageRow-error">{error}</div>}
      <div className="nbmlops-StageRow-actions">
        <button
          className="jp-Button jp-mod-styled jp-mod-reject"
          data-action="run-stage"
          disabled={busy}
          title={`Run ${stage.stage} and the stages downstream of it`}
          onClick={props.onRun}
        >
          Run
        </button>
        <button
          className="jp-Button jp-mod-styled jp-mod-reject"
          data-action="open-executed"
          disabled={!stage.executed_notebook}
          title={
            stage.executed_notebook ?? 'No executed notebook yet: run the stage'
          }
          onClick={props.onOpenExecuted}
        >
          Executed notebook
        </button>
        {stage.mlflow_url ? (
          <a
            className="nbmlops-MlflowLink"
            href={stage.mlflow_url}
            target="_blank"
            rel="noopener noreferrer"
          >
            MLflow run
          </a>
        ) : stage.mlflow_run_id ? (
          <span
            className="nbmlops-MlflowRun"
            data-run-id={stage.mlflow_run_id}
            title={SQLITE_HINT}
          >
            MLflow {stage.mlflow_run_id.slice(0, 8)}
          </span>
        ) : null}
      </div>
    </li>
  );
}
