"""Part of the code location for tests whose assertions stop at some step (a failure upstream, one partition's
table, a model card): the Definitions restricted to some assets and everything upstream of them. The runner
(`materialize_everything(..., defs=...)`) then plans and runs exactly those assets, in its usual stages, instead
of the whole dataset down to the warehouse, models and cards."""

from collections.abc import Iterable

import dagster as dg


def upstream_definitions(defs: dg.Definitions, keys: Iterable[str | dg.AssetKey]) -> dg.Definitions:
    """`defs` with only the assets `keys` and their ancestors (with their checks). A multi-asset partly inside
    (the dbt models) is subset to the keys inside, as Dagster does when a run selects part of it."""
    graph = defs.resolve_asset_graph()
    targets = [dg.AssetKey.from_user_string(k) if isinstance(k, str) else k for k in keys]
    unknown = [k for k in targets if not graph.has(k)]
    if unknown:
        raise KeyError(f"no such assets: {unknown}")
    wanted = dg.AssetSelection.assets(*targets).upstream().resolve(graph)
    assets = []
    for assets_def in defs.assets or []:
        inside = set(assets_def.keys) & wanted
        if not inside:
            continue
        if inside != set(assets_def.keys):
            checks = {c for c in assets_def.check_keys if c.asset_key in inside}
            assets_def = assets_def.subset_for(inside, checks)
        assets.append(assets_def)
    checks = [c for c in defs.asset_checks or [] if all(k.asset_key in wanted for k in c.check_keys)]
    return dg.Definitions(assets=assets, asset_checks=checks, resources=defs.resources)
