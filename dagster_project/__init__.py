"""climate-data-platform: Dagster assets for machine learning on climate and sustainability datasets."""
