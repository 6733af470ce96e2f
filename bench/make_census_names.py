"""Build ``nbmlops/data/census_names_1990.json.gz`` from the 1990 US Census name files.

The files (``dist.all.last``, ``dist.female.first``, ``dist.male.first``: name, frequency %,
cumulative %, rank) are a work of the US Government (public domain); the ``names`` package on PyPI
(MIT, 0.3.0) ships them unchanged::

    pip download --no-deps --no-binary :all: names==0.3.0 -d /tmp/names
    tar xzf /tmp/names/names-0.3.0.tar.gz -C /tmp/names
    .venv/bin/python bench/make_census_names.py /tmp/names/names-0.3.0/names

The cut: every name up to 90 % cumulative frequency (first names: both whole lists, which end at
90 %; last names: 83,740 of 88,799). Dropped: names shorter than three letters (initials and
``Al``/``Ed``/``Jo``-like tokens are too often something else), and names that are everyday English
words (``COMMON_FIRST`` below, sklearn's English stop words for last names), which would otherwise
turn "Will Smith" in prose or "May Green" in a table into findings.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

from sklearn.feature_extraction._stop_words import ENGLISH_STOP_WORDS

CUT = 90.0
VERSION = "1990.1"
# a word list reads best as text
COMMON_FIRST = """
april may june august will bill mark grant chase frank guy rob drew pat sue ray art max dean earl
king duke major miles page rich bob jack jay joy gay val van don dick tim ben gene lane lee glen
dale wade cliff clay rocky buck hunter carter cook baker mason taylor tyler parker penny candy
ginger cherry honey sugar dot bud chip ace sonny junior young long love early hope faith grace
charity patience mercy honor constance prudence rose lily daisy iris ivy holly hazel heather fern
violet jasmine pearl ruby amber coral crystal jade dawn summer autumn winter sky rain storm river
forest ocean star sunny sandy misty brook else see many sage august major sterling royal noble
precious temple dusty lucky lottie sherry brandy gale gail carol carl neil nick pierce case
page chance christian colt cole deane doll golden harley harmony haven heaven hunter jewel joy
kitty lady liberty marina melody mercedes miracle nova oliver pepper price reed rocky sable
scarlet shannon sharon stormy sunshine tiffany trinity unique velvet west august world
""".split()  # noqa: SIM905


def read(path: Path) -> list[tuple[str, float]]:
    rows = []
    for line in path.read_text(encoding="ascii").splitlines():
        name, _, cumulative, _ = line.split()
        rows.append((name.lower(), float(cumulative)))
    return rows


def main(folder: Path, out: Path) -> None:
    first = {
        name
        for file in ("dist.male.first", "dist.female.first")
        for name, cumulative in read(folder / file)
        if cumulative <= CUT + 0.1  # the first-name files end at 90.02 / 90.04 %
    }
    last = {name for name, cumulative in read(folder / "dist.all.last") if cumulative <= CUT}
    excluded_first = sorted(first & set(COMMON_FIRST))
    excluded_last = sorted(last & set(ENGLISH_STOP_WORDS))
    data = {
        "version": VERSION,
        "source": (
            "US Census Bureau, 1990 Census name frequency files dist.male.first, "
            "dist.female.first, dist.all.last (as shipped unchanged in the PyPI package "
            "'names' 0.3.0 sdist)"
        ),
        "licence": "public domain (a work of the US Government, 17 U.S.C. 105)",
        "cut": f"names up to {CUT:g} % cumulative frequency; shorter than 3 letters dropped",
        "made_by": "bench/make_census_names.py",
        "excluded_first": excluded_first,
        "excluded_last": excluded_last,
        "first_names": sorted(n for n in first if len(n) >= 3 and n not in excluded_first),
        "last_names": sorted(n for n in last if len(n) >= 3 and n not in excluded_last),
    }
    text = json.dumps(data, indent=0, ensure_ascii=True)
    # mtime=0: the same input gives the same bytes
    out.write_bytes(gzip.compress(text.encode("ascii"), compresslevel=9, mtime=0))
    print(f"{out}: {len(data['first_names'])} first, {len(data['last_names'])} last names")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).parent.parent / "nbmlops/data/census_names_1990.json.gz")
