-- Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d), in POSTGRES_DB.
-- pg_trgm backs the trigram indexes used by text search (`q`); unaccent lets filters ignore accents
-- (CRITICA = CRÍTICA). Both are trusted extensions, so the migrations may also create them as the DB owner
-- where this script does not run (CI service containers, managed databases).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;
