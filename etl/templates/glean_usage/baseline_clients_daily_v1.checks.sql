-- {{ app }}: checks of each day of baseline_clients_daily_v1 ({{ generated }}).
{% raw %}
#fail
{{ is_unique(["client_id"], "submission_date = @submission_date") }}

#fail
{{ not_null(["submission_date", "client_id"], "submission_date = @submission_date") }}

#warn
{{ row_count_within_past_partitions_avg(7, 50) }}
{% endraw %}
