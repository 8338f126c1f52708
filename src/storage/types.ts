// One set of value types for both engines, so a feature sees the same JS values on PGlite and PostgreSQL:
// int8 -> number (counts, serial ids; like PGlite's default), date and timestamp (without time zone) -> the text as
// stored ('2024-01-02', '2024-01-02 10:00:00': no local-time guessing), bytea -> Buffer, timestamptz -> Date,
// numeric -> string, json/jsonb -> parsed value. Use timestamptz for points in time.
import pg from 'pg';

const INT8 = 20;
const INT8_ARRAY = 1016;
const INT4_ARRAY = 1007;
const DATE = 1082;
const TIMESTAMP = 1114;
const BYTEA = 17;

const asText = (value: string) => value;

/** Type parsers for the PGlite constructor (text format). */
export const pgliteParsers: Record<number, (value: string) => unknown> = {
  [INT8]: (value) => Number(value),
  [DATE]: asText,
  [TIMESTAMP]: asText,
  // Text format of bytea is hex: \x0a0b…
  [BYTEA]: (value) => Buffer.from(value.slice(2), 'hex'),
};

// pg's typings only admit its enum of scalar type ids; the registry itself takes any oid.
const builtinParser = pg.types.getTypeParser as (oid: number, format?: 'text' | 'binary') => (value: string) => unknown;

/** Type parsers for pg clients (`types` option), without touching pg's global registry. */
export const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8) return (value: string) => Number(value);
    // int8[] elements as numbers too, like PGlite: the int4[] parser does exactly that.
    if (oid === INT8_ARRAY) return builtinParser(INT4_ARRAY, 'text');
    if (oid === DATE || oid === TIMESTAMP) return asText;
    return builtinParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};
