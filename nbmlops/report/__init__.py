"""Evidence an auditor reads and re-checks: the audit report notebook (executed by papermill from
the records alone, exported to one HTML file and a PDF), the model card, and the reproduction of a
recorded run (:mod:`~nbmlops.report.reproduce`)."""
