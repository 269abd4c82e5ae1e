DROP INDEX audit_change_set;
DROP TABLE import_plan_rows;
DROP TABLE import_plans;
