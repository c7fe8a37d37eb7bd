"""Part of the code location for tests whose assertions stop at some step (a failure upstream, one partition's
table, a model card): the Definitions restricted to some assets and everything upstream of them. The runner
(`materialize_everything(..., defs=...)`) then plans and runs exactly those assets, in its usual stages, instead
of the whole dataset down to the warehouse, models and cards."""

from collections.abc import Iterable

import dagster as dg


def upstream_definitions(defs: dg.Definitions, keys: Iterable[str | dg.AssetKey]) -> dg.Definitions:
    """`defs` with only the assets `keys` and their ancestors (with their checks). A multi-asset partly inside (the
    dbt models) is kept whole: Dagster cannot execute a subset multi-asset held in Definitions, so the runner's
    dataset groups and its per-run selection decide which of its keys run (every key of the named datasets)."""
    graph = defs.resolve_asset_graph()
    targets = [dg.AssetKey.from_user_string(k) if isinstance(k, str) else k for k in keys]
    unknown = [k for k in targets if not graph.has(k)]
    if unknown:
        raise KeyError(f"no such assets: {unknown}")
    wanted = dg.AssetSelection.assets(*targets).upstream().resolve(graph)
    assets = [a for a in defs.assets or [] if set(a.keys) & wanted]
    checks = [c for c in defs.asset_checks or [] if all(k.asset_key in wanted for k in c.check_keys)]
    return dg.Definitions(assets=assets, asset_checks=checks, resources=defs.resources)
