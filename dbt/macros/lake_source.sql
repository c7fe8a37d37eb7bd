{#- Path of a Python asset's parquet files on the data root (local folder or s3://). -#}
{% macro lake_table(asset_key) -%}
read_parquet('{{ var("data_root") }}/tables/{{ asset_key }}/**/*.parquet', union_by_name=true)
{%- endmacro %}
