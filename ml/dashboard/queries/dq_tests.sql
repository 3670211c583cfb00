-- Data quality, dbt test executions per day and status (the run history).
select
    run_date,
    status,
    test_executions
from marts.fct_dbt_test_status_daily
order by run_date, status
