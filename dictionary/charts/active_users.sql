/* {{ title }}: {{ app }}'s daily, weekly and monthly active users per UTC day from {{ first }} to {{ last }}{{ note }}.
   A figure under {{ min_clients }} clients is left out. */
SELECT
  submission_date AS day,
  IF(SUM(dau) >= {{ min_clients }}, SUM(dau), NULL) AS dau,
  IF(SUM(wau) >= {{ min_clients }}, SUM(wau), NULL) AS wau,
  IF(SUM(mau) >= {{ min_clients }}, SUM(mau), NULL) AS mau
FROM
  `{{ table }}`
WHERE
  submission_date >= DATE '{{ first }}'
  AND submission_date <= DATE '{{ last }}'{% for c in conditions %}

  AND {{ c }}{% endfor %}

GROUP BY
  day
HAVING
  SUM(mau) >= {{ min_clients }}
ORDER BY
  day
