"""Source labels and dataset cards: comparison tables name what a run read (the shipped sample only when the source
is `assets/<dataset>`), every dataset has a Hugging Face dataset card whose front matter parses with the Hub's
keys, the card's counts and rule results are the instance's, and model cards link to it and show the training
fingerprint."""

import shutil

import dagster as dg
import polars as pl
import pytest

from dagster_project import settings
from dagster_project.dataset_cards import (
    NOT_FOUND,
    SIZE_CATEGORIES,
    CheckOutcome,
    RuleOutcome,
    RunFacts,
    TableCount,
    card_relpath,
    load_card,
    parse_dataset_card,
    render_dataset_card,
    size_category,
)
from dagster_project.metadata import SAMPLE_LABEL, paper_vs_ours, run_label
from dagster_project.model_cards import hf_license, parse_card, render_card, training_fingerprint_of
from tests.support.samples import PCB_BOARDS, pcbvision_copy

HF_DATASET_KEYS = {"license", "task_categories", "size_categories", "pretty_name", "tags"}
# Hugging Face task categories (the Hub's list; the ones a climate dataset here may use).
HF_TASKS = {
    "image-segmentation",
    "object-detection",
    "image-classification",
    "text-classification",
    "text-retrieval",
    "tabular-classification",
    "tabular-regression",
    "time-series-forecasting",
    "other",
}
SECTIONS = (
    "## Formats and variants the reader accepts",
    "## Optional files",
    "## Official split and how it is applied",
    "## What this run ingested",
    "## Validation rules and their latest results",
    "## Authors' pitfalls this platform fixes",
)


# ---------------------------------------------------------------------------------------------------------------
# source labels


def test_sample_source_is_labelled_shipped_sample(monkeypatch, lake_local):
    monkeypatch.delenv("CDP_EXIONAICS_SOURCE", raising=False)
    assert run_label("exionaics", lake_local, rows={"test companies": 7}) == SAMPLE_LABEL
    # the same folder spelt differently is still the shipped sample
    monkeypatch.setenv("CDP_EXIONAICS_SOURCE", str(settings.SAMPLES_DIR / "exionaics") + "/")
    assert run_label("exionaics") == SAMPLE_LABEL
    table = paper_vs_ours([("top-1", 0.8368, 0.5)], paper="GREEN", run=run_label("exionaics"))
    assert "| this run: shipped sample (synthetic) |" in table and "sample data" not in table
    assert "small and synthetic" in table


def test_another_folder_is_labelled_with_its_location_and_counts(monkeypatch, lake_local, tmp_path):
    from dagster_project.raw import ingest_raw

    copy = tmp_path / "exionaics-copy"
    shutil.copytree(settings.SAMPLES_DIR / "exionaics", copy)
    (copy / "extra.csv").write_text("a\n1\n")
    n_files = sum(1 for p in copy.rglob("*") if p.is_file())
    monkeypatch.setenv("CDP_EXIONAICS_SOURCE", str(copy))
    manifest = ingest_raw(lake_local, "exionaics", str(copy))
    assert manifest.height == n_files
    label = run_label("exionaics", lake_local, rows={"test companies": 1234})
    assert label == f"{copy}: {n_files} files, 1,234 test companies"
    table = paper_vs_ours([("top-1", 0.8368, 0.5)], paper="GREEN", run=label)
    assert f"| this run: {label} |" in table
    assert "sample" not in table and "synthetic" not in table
    # without a lake (a plot title drawn where no lake is at hand) the location alone
    assert run_label("exionaics") == str(copy)


# ---------------------------------------------------------------------------------------------------------------
# rendering (every dataset)


def _facts() -> RunFacts:
    rule_ok = RuleOutcome("t_valid", "t", "ExpectColumnValuesToNotBeNull(id)", passed=3)
    rule_bad = RuleOutcome(
        "t_valid", "t", "ExpectColumnValuesToBeBetween(x, min=0)", passed=2, failed=1, unexpected=4
    )
    return RunFacts(
        source="s3://bucket/ds: 12 files",
        raw_files=12,
        raw_bytes=3456,
        tables=[TableCount("t", 1200, 3), TableCount("u", None, 0)],
        checks=[
            CheckOutcome("t_valid", "t", "rules | of t", True, passed=2, failed=1, rules=[rule_ok, rule_bad])
        ],
    )


def test_size_categories_follow_the_hub_buckets():
    assert size_category(0) == "n<1K" and size_category(999) == "n<1K" and size_category(1000) == "1K<n<10K"
    assert size_category(20_850) == "10K<n<100K" and size_category(15_934_561) == "10M<n<100M"
    assert [label for _, label in SIZE_CATEGORIES][-1] == "n>1T"


@pytest.mark.parametrize("name", ["agbd", "cloudtracks", "exionaics", "geoplant", "pcbvision"])
def test_every_dataset_card_renders_with_the_hub_keys(name):
    from dagster_project.datasets import load_datasets

    ds = {d.name: d for d in load_datasets()}[name]
    card = load_card(name)
    assert card is not None, f"dagster_project/datasets/{name}/card.py has no CARD"
    text = render_dataset_card(name, card, _facts(), title=ds.title, homepage=ds.homepage)
    front, body = parse_dataset_card(text)
    assert HF_DATASET_KEYS <= set(front)
    assert set(front["task_categories"]) <= HF_TASKS and front["task_categories"]
    assert front["size_categories"] == [size_category(card.published_records)]
    assert front["source_urls"] and all(u.startswith("https://") for u in front["source_urls"])
    assert front["citation"].startswith("@") and front["paper"].startswith("https://arxiv.org/abs/")
    if card.license_published == NOT_FOUND:
        assert front["license"] == "unknown" and front["license_published"] == NOT_FOUND
    else:
        assert front["license"] == hf_license(card.license_published)[0] != "unknown"
    run = front["platform_run"]
    assert run["source"] == "s3://bucket/ds: 12 files" and run["raw_files"] == 12
    assert run["tables"] == {"t": {"rows": 1200, "partitions": 3}, "u": {"rows": None, "partitions": 0}}
    assert (run["checks_passed"], run["checks_failed"]) == (2, 1)
    positions = [body.index(s) for s in SECTIONS]
    assert positions == sorted(positions)
    assert "| `t_valid` | `ExpectColumnValuesToBeBetween(x, min=0)` | FAIL | 2 / 1 | 4 |" in body
    assert "rules \\| of t" in body  # a pipe in a description does not break the table
    assert card.pitfalls and all(p.authors_code and p.fix for p in card.pitfalls)
    for p in card.pitfalls:
        assert p.authors_code.replace("|", "\\|") in body
    assert card.citation.strip() in body


def test_license_is_as_published_or_not_found():
    assert load_card("agbd").license_published == "CC BY-NC 4.0"
    assert load_card("geoplant").license_published == "MIT"
    assert load_card("exionaics").license_published == "apache-2.0"
    assert load_card("cloudtracks").license_published == NOT_FOUND
    assert load_card("pcbvision").license_published == NOT_FOUND


# ---------------------------------------------------------------------------------------------------------------
# model cards: fingerprint


def _render_model_card(train_md: dict, **kwargs) -> tuple[dict, str]:
    return parse_card(
        render_card(
            model="ds_model",
            dataset="ds",
            dataset_title="DS",
            dataset_homepage="",
            license_text="MIT",
            evaluation="ds_model_evaluation",
            split="test",
            metrics={"acc": 0.5},
            headline_name="acc",
            train_md=train_md,
            eval_md={},
            efficiency={"label": "A", "value": 0.5, "unit": "g"},
            model_description="",
            model_type="sklearn.linear_model.LogisticRegression",
            **kwargs,
        )
    )


def test_model_card_shows_the_training_fingerprint(lake_local, tmp_path):
    from dagster_project.fingerprint import training_fingerprint
    from dagster_project.raw import ingest_raw

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.csv").write_text("x\n1\n")
    ingest_raw(lake_local, "ds", str(src))
    frame = pl.DataFrame({"x": [3, 1, 2]})
    md = training_fingerprint(lake_local, "ds", {"training_set": frame})
    front, body = _render_model_card(
        md, dataset_card="/lake/dataset_cards/ds/README.md", source_label="x: 1 files"
    )
    fp = front["training_data_fingerprint"]
    assert fp == training_fingerprint_of(md)
    assert fp["id"] == md["fingerprint/id"].value and fp["raw_files"] == 1
    assert fp["frames"] == {
        "training_set": {"rows": 3, "sha256": md["fingerprint/training_set/sha256"].value}
    }
    assert fp["raw_manifest_sha256"] == md["fingerprint/raw_manifest_sha256"].value
    assert fp["code_version"] == md["fingerprint/code_version"].value
    section = body.split("## Training data fingerprint", 1)[1].split("\n## ", 1)[0]
    for value in (
        fp["id"],
        fp["raw_manifest_sha256"],
        fp["frames"]["training_set"]["sha256"],
        fp["code_version"],
    ):
        assert f"`{value}`" in section
    assert "frame `training_set`: 3 rows" in section
    assert (
        "[dataset_cards/ds/README.md](../../dataset_cards/ds/README.md)" in body
        and "This run read: x: 1" in body
    )

    front, body = _render_model_card({})
    assert "training_data_fingerprint" not in front and "records no training-data fingerprint" in body
    assert "dataset_cards/" not in body


# ---------------------------------------------------------------------------------------------------------------
# end to end


def _instance_rules(instance, check: dg.AssetCheckKey) -> dict[str | None, list]:
    """The latest evaluation of a check per partition (the partition of the run that evaluated it)."""
    records = instance.event_log_storage.get_asset_check_execution_history(check, limit=1000)
    latest = {}
    for r in records:
        if r.evaluation is not None:
            latest.setdefault(instance.get_run_by_id(r.run_id).tags.get("dagster/partition"), r.evaluation)
    return latest


def _assert_card_matches_instance(lake, instance, name: str) -> dict:
    from dagster_project.dataset_cards import validated_checks
    from dagster_project.datasets import load_datasets
    from dagster_project.raw import read_manifest

    ds = {d.name: d for d in load_datasets()}[name]
    front, body = parse_dataset_card(lake.read_bytes(card_relpath(name)).decode())
    assert HF_DATASET_KEYS <= set(front) and front["license_published"] == load_card(name).license_published
    manifest = read_manifest(lake, name)
    run = front["platform_run"]
    assert run["raw_files"] == manifest.height > 0 and run["raw_bytes"] == int(manifest["size"].sum())
    checks = validated_checks(ds)
    assert checks and set(run["tables"]) == {c.asset_key.to_user_string() for c in checks}
    passed = failed = 0
    for spec in checks:
        latest = _instance_rules(instance, spec.key)
        assert latest, f"{spec.key} was never evaluated"
        passed += sum(e.passed for e in latest.values())
        failed += sum(not e.passed for e in latest.values())
        for evaluation in latest.values():
            if (
                "rule_results" not in evaluation.metadata
            ):  # an optional table that is absent: skipped, said so
                assert "skipped" in evaluation.metadata, evaluation.metadata
                continue
            for rule in evaluation.metadata["rule_results"].value:
                assert f"| `{spec.key.name}` | `{rule['rule'].replace('|', chr(92) + '|')}` |" in body
        table = spec.asset_key.to_user_string()
        rows = [
            ev.asset_materialization.metadata["dagster/row_count"].value
            for ev in instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=spec.asset_key), limit=1000
            ).records
        ]
        partitions = {
            r.partition_key
            for r in instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=spec.asset_key), limit=1000
            ).records
        }
        if partitions == {None}:
            assert run["tables"][table] == {"rows": rows[0], "partitions": 0}
        else:  # one run per partition here, so every materialisation is its partition's latest
            assert run["tables"][table] == {"rows": sum(rows), "partitions": len(partitions)}
    assert (run["checks_passed"], run["checks_failed"]) == (passed, failed) and failed == 0
    return front


def test_landed_datasets_have_a_dataset_card_and_model_cards_link_it(platform_run):
    from dagster_project.definitions import defs
    from dagster_project.model_cards import find_model_pairs

    assert platform_run["report"].success, platform_run["report"].failures
    lake, instance = platform_run["lake"], platform_run["instance"]
    for name in platform_run["datasets"]:
        front = _assert_card_matches_instance(lake, instance, name)
        assert front["platform_run"]["source"] == SAMPLE_LABEL
    pairs = [p for p in find_model_pairs(list(defs.assets or [])) if p.group in platform_run["datasets"]]
    for pair in pairs:
        model = pair.model.to_user_string()
        front, body = parse_card(lake.read_bytes(f"model_cards/{model}/README.md").decode())
        assert f"(../../{card_relpath(pair.group)})" in body and f"This run read: {SAMPLE_LABEL}." in body
        md = dict(instance.get_latest_materialization_event(pair.model).asset_materialization.metadata)
        fp = training_fingerprint_of(md)
        if fp is None:  # the model does not record one (yet): the card says so
            assert "training_data_fingerprint" not in front and "records no training-data fingerprint" in body
        else:
            assert front["training_data_fingerprint"] == fp and f"`{fp['id']}`" in body


@pytest.mark.slow  # a PCB-Vision run on three boards (about half a CPU-minute)
def test_a_partitioned_dataset_read_from_another_folder(materialize_dataset, lake_local, tmp_path):
    """PCB-Vision from a copy of the sample (three of its boards): the comparison table names the folder and its
    counts, and the card adds up the latest evaluation of every board's checks."""
    copy = pcbvision_copy(tmp_path / "pcb-source")
    m = materialize_dataset("pcbvision", lake_local, source=copy)
    assert m.success, (m.report.failures, m.step_failures())
    front = _assert_card_matches_instance(lake_local, m.instance, "pcbvision")
    files = front["platform_run"]["raw_files"]
    assert front["platform_run"]["source"] == f"{copy}: {files} files"
    (ev,) = m.materializations("pcbvision_model_evaluation")
    table = ev.metadata["paper_vs_ours"].value
    boards, pixels = len(ev.metadata["test_board_ids"].value), int(ev.metadata["test_pixels"].value)
    assert f"| this run: {copy}: {files} files, {boards} test boards, {pixels:,} test pixels |" in table
    assert "synthetic" not in table
    boards_ingested = len(m.instance.get_dynamic_partitions("pcbvision_boards"))
    assert boards_ingested == len(PCB_BOARDS)
    assert front["platform_run"]["tables"]["pcbvision_board_pixels"]["partitions"] == boards_ingested > 1
    # two per-board checks (pixels, RGB), each evaluated once per board
    assert front["platform_run"]["checks_passed"] == 2 * boards_ingested
