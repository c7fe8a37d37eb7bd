{#- Generic tests used across datasets (dbt packages cannot be downloaded offline, so they live here). -#}

{% test text_length_is(model, column_name, length) %}
select {{ column_name }} from {{ model }}
where {{ column_name }} is not null and length({{ column_name }}) != {{ length }}
{% endtest %}

{% test value_between(model, column_name, min_value=none, max_value=none) %}
select {{ column_name }} from {{ model }}
where {{ column_name }} is not null and (
    false
    {% if min_value is not none %} or {{ column_name }} < {{ min_value }} {% endif %}
    {% if max_value is not none %} or {{ column_name }} > {{ max_value }} {% endif %}
)
{% endtest %}

{% test row_count_between(model, min_value=1, max_value=none) %}
select count(*) as n from {{ model }}
having count(*) < {{ min_value }} {% if max_value is not none %} or count(*) > {{ max_value }} {% endif %}
{% endtest %}
