"""The resources every asset can ask for, configured from the environment (see `settings`)."""

import dagster as dg

from dagster_project import settings
from dagster_project.dbt import dbt_resource
from dagster_project.io_managers import LakeIOManager
from dagster_project.storage import Lake
from dagster_project.warehouse import Warehouse


class SourceCredentials(dg.ConfigurableResource):
    """Optional credentials for remote sources. Values come only from environment variables, through
    `dagster.EnvVar`, so they never appear in config, run storage or files."""

    hf_token: str | None = None
    kaggle_username: str | None = None
    kaggle_key: str | None = None
    zenodo_token: str | None = None

    def hf_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.hf_token}"} if self.hf_token else {}

    def zenodo_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.zenodo_token}"} if self.zenodo_token else {}


def _secret(name: str):
    return dg.EnvVar(name) if settings.secret_is_set(name) else None


def platform_resources() -> dict:
    lake = Lake.from_env()
    return {
        "lake": lake,
        "io_manager": LakeIOManager(lake=lake),
        "warehouse": Warehouse.from_env(),
        "dbt": dbt_resource(),
        "credentials": SourceCredentials(
            hf_token=_secret("HF_TOKEN"),
            kaggle_username=_secret("KAGGLE_USERNAME"),
            kaggle_key=_secret("KAGGLE_KEY"),
            zenodo_token=_secret("ZENODO_TOKEN"),
        ),
    }
