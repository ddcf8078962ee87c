-- The star schema of the daily sales job, in a schema of its own (psql -v schema=demo).
-- Idempotent: the job runs it every night.
CREATE SCHEMA IF NOT EXISTS :"schema";
SET search_path = :"schema";
CREATE TABLE IF NOT EXISTS dim_product (
  sku text PRIMARY KEY,
  name text NOT NULL,
  category text NOT NULL,
  price numeric(12,2) NOT NULL,
  reorder_level integer NOT NULL
);
CREATE TABLE IF NOT EXISTS dim_store (
  store_id text PRIMARY KEY,
  name text NOT NULL,
  city text NOT NULL,
  terminals integer NOT NULL
);
CREATE TABLE IF NOT EXISTS dim_date (
  sale_date date PRIMARY KEY,
  year integer NOT NULL,
  month integer NOT NULL,
  day integer NOT NULL,
  weekday integer NOT NULL -- ISO: Monday 1 … Sunday 7
);
CREATE TABLE IF NOT EXISTS fact_sales (
  sale_id text PRIMARY KEY,
  sale_date date NOT NULL REFERENCES dim_date,
  sold_at timestamp NOT NULL,
  sale_hour integer NOT NULL,
  store_id text NOT NULL REFERENCES dim_store,
  terminal text NOT NULL,
  sku text NOT NULL REFERENCES dim_product,
  quantity integer NOT NULL CHECK (quantity > 0),
  unit_price numeric(12,2) NOT NULL,
  revenue numeric(14,2) NOT NULL
);
CREATE INDEX IF NOT EXISTS fact_sales_sale_date ON fact_sales (sale_date);
