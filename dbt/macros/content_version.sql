{#- Post-hook of every model: logs the relation's row count and a content hash (its column names and types, and an
    order-independent sum of its rows' hashes). Dagster reads the line from dbt's event stream and makes them the
    model's `dagster/row_count` and data version (dagster_project/dbt.py), so a rebuild with the same content keeps
    its version and the models that read it do not retrain. Computed here, in dbt's own transaction, because dbt
    holds the warehouse's write lock until it exits: nothing else can read the table before then. -#}
{% macro log_content_version() -%}
  {%- if execute -%}
    {%- set query -%}
      select count(*)::varchar, sha256(
        coalesce((select string_agg(column_name || ':' || data_type, ',' order by ordinal_position)
                  from information_schema.columns where table_name = '{{ this.identifier }}'), 'None')
        || '|' || count(*)::varchar || '|' || coalesce(sum(hash(t)::hugeint)::varchar, 'None')
      )
      from {{ this }} t
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- do log("content version: " ~ tojson({"relation": this.identifier, "rows": row[0], "sha256": row[1]}), info=True) -%}
  {%- endif -%}
{%- endmacro %}
