"""The seeds' own file formats, both ways (DESIGN.md §10).

* :mod:`wassette` — Wassette's state snapshot (JSON, ``version: 1``) and its
  state export (``WassetteState``: JSON or YAML, ``version: "0.3.4"``);
* :mod:`persist` — Persist's ``.json.gz`` snapshots, ``content_hash`` computed
  exactly as persist-core does;
* :mod:`detect` — which format a file is in; :mod:`transfer` — import into and
  export from an environment.

``schemas/`` holds JSON Schemas written from the published shapes.
"""

from pathlib import Path

SCHEMAS = Path(__file__).parent / "schemas"
