"""Running a pipeline: the plan (``plan``), build state (``state``), the scheduler
(``execute``), the only papermill caller (``kernel``), the pinned environment (``environment``),
the project's run lock (``lock``) and the replay of runs MLflow missed (``replay``)."""
