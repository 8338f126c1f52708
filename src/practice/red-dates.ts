// `from`/`to` of the RED Task query: YYYYMMDDHHmm in the practice's local time (Europe/Berlin), `to` inclusive of
// its minute.
import { badRequest } from '../fhir/errors.ts';

const BERLIN = new Intl.DateTimeFormat('en-US', {
  timeZone: 'Europe/Berlin', hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
});

function berlinOffsetMs(instant: number): number {
  const p = Object.fromEntries(BERLIN.formatToParts(new Date(instant)).map((x) => [x.type, x.value]));
  const asUtc = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute));
  return asUtc - Math.floor(instant / 60_000) * 60_000;
}

/** The instant of a Berlin wall-clock minute given as YYYYMMDDHHmm; throws 400 naming the parameter. */
export function parseRedMinute(value: unknown, name: string): Date {
  const m = typeof value === 'string' ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(value) : null;
  if (!m) throw badRequest(`${name} muss das Format YYYYMMDDHHmm haben (z. B. 202507070808)`, { code: 'value', expression: [name] });
  const [y, mo, d, h, mi] = m.slice(1).map(Number);
  const guess = Date.UTC(y, mo - 1, d, h, mi);
  const check = new Date(guess);
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59) {
    throw badRequest(`${name}=${value} ist kein gültiger Zeitpunkt`, { code: 'value', expression: [name] });
  }
  let t = guess - berlinOffsetMs(guess);
  const again = guess - berlinOffsetMs(t);
  if (again !== t) t = again;
  return new Date(t);
}

/** The Berlin wall-clock minute of an instant as YYYYMMDDHHmm (for clients and tests). */
export function formatRedMinute(date: Date): string {
  const p = Object.fromEntries(BERLIN.formatToParts(date).map((x) => [x.type, x.value]));
  return `${p.year}${p.month}${p.day}${p.hour}${p.minute}`;
}
