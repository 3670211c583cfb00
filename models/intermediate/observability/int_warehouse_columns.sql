-- The live column inventory of every relation the project loads or builds (a view over the engine's catalog,
-- through the dispatched macro warehouse_columns): the current state the schema-change monitor compares.
{{ warehouse_columns() }}
