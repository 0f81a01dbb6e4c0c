{% macro pings(values=(), unnests=(), conditions=()) -%}
  SELECT
    DATE(submission_timestamp) AS day,
    submission_timestamp AS submitted,
    client_info.client_id AS client_id{% for name, expr in values %},
    {{ expr }} AS {{ name }}{% endfor %}

  FROM
    `{{ table }}`{% for expr, alias in unnests %},
    UNNEST({{ expr }}) AS {{ alias }}{% endfor %}

  WHERE
    submission_timestamp >= TIMESTAMP '{{ first }}'
    AND submission_timestamp < TIMESTAMP '{{ end }}'{% for c in conditions %}

    AND {{ c }}{% endfor %}
{%- endmacro %}
