-- {{ app }}: active users per day, by channel and country ({{ generated }}).
CREATE OR REPLACE VIEW
  `{{ app }}.active_users`
AS
SELECT
  *
FROM
  `{{ app }}_derived.active_users_v1`
