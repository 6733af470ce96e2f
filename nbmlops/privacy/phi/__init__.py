"""Find and redact what looks like protected health information in text and notebook outputs.

A pattern scan, run before anything leaves the machine (an executed notebook logged to MLflow, a
text artifact): :func:`scan_text` / :func:`redact_text` for a string, :func:`scan_notebook` /
:func:`redact_notebook` for the outputs of a notebook's code cells, and :func:`check_notebook`,
which applies a policy (``"refuse"``, ``"redact"`` or ``"off"``) for the tracking code. A finding
says what kind of identifier it is and where, never the value: its excerpt has the value replaced
by ``[REDACTED:<kind>]`` and the digits around it masked.

What is found (``kind`` is the HIPAA Safe Harbor identifier kind of :mod:`nbmlops.privacy.deid`):

=============  ==============================================================================
``ssn``        ``123-45-6789`` (not area 000 or 666, group 00 or serial 0000; areas 9xx are
               kept because ITINs are identifying too); nine digits after an "SSN" label
``mrn``        a digit run (4-12 digits, up to 3 letters first) after "MRN", "MR#", "medical
               record number" or "patient ID", as in ``MRN08784650`` or ``MRN: 1234567``
``phone``      US numbers: ``(617) 555-0123``, ``617-555-0123``, ``617.555.0123`` (the same
               separator twice), ``+1 617 555 0123``, ``+16175550123``; ten bare digits after a
               "phone", "tel", "fax", "cell" or "mobile" label. Area and exchange start with 2-9
``email``      ``local@domain.tld``
``date``       full dates (day, month and year): ``2024-03-05``, ``2024/3/5``, ``3/5/2024``,
               ``05.03.2024``, ``3/5/24`` (slashes only), ``March 5, 2024``, ``5 Mar 2024``
``geographic`` ZIP+4 (``02138-4021``); a five-digit ZIP after a "ZIP" or "postal code" label
``name``       a person's name: a capitalised first name then a capitalised last name (an
               initial may stand between: ``Ann Lee``, ``JOHN A. SMITH``), both in the 1990
               US Census lists shipped in ``data/census_names_1990.json.gz`` (names covering
               90 % of the population; everyday words such as Will, May, Mark left out); and
               any name registered for the project (below)
``other_id``   a registered identifier of another kind (an account or member number ...)
=============  ==============================================================================

The project's own identifiers: what :func:`register_identifiers` (or
:func:`nbmlops.privacy.deid.deidentify`, for every column it removes) registered is found by value,
as
keyed hashes (:mod:`nbmlops.privacy.identifiers`): a patient's name or MRN wherever it is printed,
with
the kind it was registered as. Every scan uses the registry of the project around the working
directory unless given another (``identifiers=``), or none (``identifiers=None``).

The trade-offs, chosen so that typical model-training output (metrics, shapes, floats, versions,
years) is clean while a printed patient row is caught:

- Not flagged, by design: bare years (``2024``), month-year (``March 2024``), day-month
  (``March 5``), dates in ``.``-separated year-first form (CalVer versions such as
  ``certifi 2024.8.30`` would look like dates), and ISO 8601 timestamps with a ``T``, a time and
  a UTC offset or ``Z`` (``2024-03-05T10:00:00Z``): that form is what machines write (MLflow,
  papermill, Jupyter, loggers configured for UTC), and printed patient data almost never takes
  it. Every other full date is flagged, whoever it belongs to: ``data extracted on 2024-03-05``
  and a log line's ``2024-03-05 10:00:01,123`` are false positives (redact, or log the date as a
  year).
- Not found at all (false negatives), unless registered: names whose first or last name is not
  in the 1990 lists (names given since, e.g. Aaliyah; ~84 % of the synthetic patients' names
  are found), a surname alone, street addresses, cities, bare five-digit ZIPs, unlabelled nine-
  and ten-digit numbers (ids and timestamps look the same), account, plan, license, device and
  vehicle numbers, URLs and IP addresses (notebook servers print ``http://127.0.0.1``), and
  anything in images. Registered values are found whatever their shape; a registered name's
  single token only when it is written capitalised and is not itself a common name.
- Scanned outputs: stream text, error tracebacks, ``text/*`` and JSON (``application/json`` and
  ``application/*+json``) display data, scrapbook scraps included (a recorded value is logged
  too). Not scanned: images, PDFs, JavaScript and cell sources. HTML that embeds a JavaScript
  library (plotly's) is scanned and may give false positives from it.

The parts: :mod:`~nbmlops.privacy.phi.patterns` (what is found), :mod:`~nbmlops.privacy.phi.text`
(one text or JSON value), :mod:`~nbmlops.privacy.phi.notebooks` (a notebook's outputs) and
:mod:`~nbmlops.privacy.phi.policy` (refuse, redact or off, for what is kept).
"""

from __future__ import annotations

from nbmlops.privacy.names import CensusNames, census_names
from nbmlops.privacy.phi.notebooks import NotebookFinding, redact_notebook, scan_notebook
from nbmlops.privacy.phi.patterns import Identifiers as Identifiers
from nbmlops.privacy.phi.patterns import PhiKind, register_identifiers
from nbmlops.privacy.phi.policy import WITHHELD as WITHHELD
from nbmlops.privacy.phi.policy import (
    NotebookCheck,
    apply_policy,
    check_free_text,
    check_notebook,
    redact_injected_parameters,
    scan_value,
)
from nbmlops.privacy.phi.policy import Policy as Policy
from nbmlops.privacy.phi.text import EXCERPT_CONTEXT as EXCERPT_CONTEXT
from nbmlops.privacy.phi.text import PhiFinding, redact_text, scan_text

__all__ = [
    "CensusNames",
    "NotebookCheck",
    "NotebookFinding",
    "PhiFinding",
    "PhiKind",
    "apply_policy",
    "census_names",
    "check_free_text",
    "check_notebook",
    "redact_injected_parameters",
    "redact_notebook",
    "redact_text",
    "register_identifiers",
    "scan_notebook",
    "scan_text",
    "scan_value",
]
