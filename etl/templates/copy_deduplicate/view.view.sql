-- {{ view }}: {{ stable }}, as people query it ({{ generated }}).
CREATE OR REPLACE VIEW
  `{{ view }}`
AS
SELECT
  *
FROM
  `{{ stable }}`
