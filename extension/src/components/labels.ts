import type { StageState } from '../progress';

export const STATE_LABELS: { [state in StageState]: string } = {
  up_to_date: 'up to date',
  stale: 'stale',
  running: 'running',
  failed: 'failed',
  never_run: 'never run'
};

export const SQLITE_HINT =
  'Open it in the MLflow UI: `nbmlops ui` (or `mlflow ui --backend-store-uri sqlite:///.nbmlops/mlflow.db`); `make lab` starts one and links the runs.';
