#!/bin/sh
# Run once by the postgres image, on the first start of an empty data volume (mounted into
# /docker-entrypoint-initdb.d by docker-compose.yml): Prefect's own database beside the campaign
# database POSTGRES_DB. Both keep Alembic tables of the same name, so they must not share one.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "CREATE DATABASE prefect OWNER \"$POSTGRES_USER\""
