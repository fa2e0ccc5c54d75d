"""In-memory agent state: objects, bytes and files committed without a working folder.

:mod:`commit` builds and commits the entries (secrets sealed or refused, never
replaced); :mod:`tagindex` finds an environment's snapshots by tag.
"""
