"""The dbt docs site: generated from the warehouse, published on the lake, served on 127.0.0.1 and rendered by
headless Chromium, whose rendered page must list every model of every landed dataset."""

import json
import re
import shutil
import subprocess

from dagster_project.datasets import load_datasets
from dagster_project.dbt import DOCS_PREFIX, generate_docs

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--virtual-time-budget=20000",  # let the Angular app fetch manifest.json/catalog.json and render
]


def test_dbt_docs_site_renders_every_dataset_model(lake_local, tmp_path, http_server):
    sizes = generate_docs(lake_local, str(tmp_path / "warehouse.duckdb"))
    assert sizes["models"] > 0
    site = tmp_path / "site"
    site.mkdir()
    for name in ("index.html", "manifest.json", "catalog.json"):
        (site / name).write_bytes(lake_local.read_bytes(f"{DOCS_PREFIX}/{name}"))
    manifest = json.loads((site / "manifest.json").read_text())
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    # every model and every column is documented (that is what makes the site worth browsing)
    undocumented = [m for m, n in models.items() if not n.get("description")]
    undocumented += [
        f"{m}.{c}" for m, n in models.items() for c, col in n["columns"].items() if not col.get("description")
    ]
    assert not undocumented, f"models/columns without a description: {undocumented}"

    server = http_server(site)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is installed by `make test` (scripts/install-system-deps.sh)"
    proc = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, "--dump-dom", f"{server.url}/index.html"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    rendered = re.sub(r"<script.*?</script>", "", proc.stdout, flags=re.S)  # only what the page rendered
    listed = set(re.findall(r'data-nav-unique-id="model\.climate_data_platform\.([A-Za-z0-9_]+)"', rendered))
    for ds in load_datasets():
        expected = {m for m in models if m.startswith(f"{ds.name}_")}
        assert expected, f"no dbt models for dataset {ds.name}"
        assert expected <= listed, f"{ds.name}: not rendered: {sorted(expected - listed)}"
