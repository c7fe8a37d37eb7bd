"""IO manager on the data lake: polars DataFrames as parquet, everything else (fitted models, metric dicts) as
pickle. Paths are stable and readable, so dbt sources and humans can find the tables:

- `tables/<asset_key>/data.parquet` (unpartitioned) or `tables/<asset_key>/<partition>/data.parquet`
- `objects/<asset_key>/object.pkl` or `objects/<asset_key>/<partition>/object.pkl`

Every write is atomic (see `Lake.atomic_open`).
"""

import pickle
from typing import Any

import dagster as dg
import polars as pl

from dagster_project.storage import Lake


def _key_path(key: dg.AssetKey) -> str:
    return "/".join(key.path)


def _safe_partition(partition: str) -> str:
    return partition.replace("/", "_")


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores asset values on the data lake (local folder or s3://)."""

    lake: dg.ResourceDependency[Lake]

    def _relpath(self, key: dg.AssetKey, partition: str | None, kind: str) -> str:
        folder = "tables" if kind == "parquet" else "objects"
        name = "data.parquet" if kind == "parquet" else "object.pkl"
        part = f"/{_safe_partition(partition)}" if partition else ""
        return f"{folder}/{_key_path(key)}{part}/{name}"

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        partition = context.partition_key if context.has_partition_key else None
        if isinstance(obj, pl.DataFrame):
            rel = self._relpath(context.asset_key, partition, "parquet")
            self.lake.write_parquet(obj, rel)
            context.add_output_metadata({"path": dg.MetadataValue.path(self.lake.url(rel))})
        else:
            rel = self._relpath(context.asset_key, partition, "pickle")
            self.lake.write_bytes(rel, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
            context.add_output_metadata({"path": dg.MetadataValue.path(self.lake.url(rel))})

    def load_input(self, context: dg.InputContext) -> Any:
        key = context.asset_key
        partitions = None
        if context.has_asset_partitions:
            partitions = list(context.asset_partition_keys)
        kinds = ("parquet", "pickle")
        if partitions:
            found_kind = next(
                (k for k in kinds if self.lake.exists(self._relpath(key, partitions[0], k))), None
            )
            if found_kind is None:
                raise FileNotFoundError(
                    f"{_key_path(key)} partition {partitions[0]} has not been materialised"
                )
            values = {p: self._read(self._relpath(key, p, found_kind), found_kind) for p in partitions}
            if found_kind == "parquet":
                return pl.concat(list(values.values()), how="diagonal_relaxed")
            return values if len(values) > 1 else next(iter(values.values()))
        for kind in kinds:
            rel = self._relpath(key, None, kind)
            if self.lake.exists(rel):
                return self._read(rel, kind)
        raise FileNotFoundError(
            f"{_key_path(key)} has not been materialised yet (looked under {self.lake.url()})"
        )

    def _read(self, rel: str, kind: str) -> Any:
        if kind == "parquet":
            return self.lake.read_parquet(rel)
        return pickle.loads(self.lake.read_bytes(rel))
