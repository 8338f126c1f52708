// Calendar rules of the Fachdienst: German local day, AcceptDate/ExpiryDate (erp-api §3.1).
import type { PrescriptionFacts } from './prescription-bundle.ts';
import { ENTLASSREZEPT_CODES } from './profiles.ts';

const BERLIN_DAY = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Berlin', year: 'numeric', month: '2-digit', day: '2-digit' });

/** The calendar day (YYYY-MM-DD) of an instant in Europe/Berlin (A_22487 compares days in German time). */
export function berlinDay(date: Date): string {
  const time = date.getTime();
  if (Number.isNaN(time)) throw new RangeError('invalid date');
  // Berlin's offset is a whole number of hours, so its day changes only on a full UTC hour: one Intl format per hour
  // instead of several per request (Intl formatting is the slow part).
  const hour = Math.floor(time / 3_600_000);
  if (hour !== lastHour) {
    lastDay = BERLIN_DAY.format(date);
    lastHour = hour;
  }
  return lastDay;
}
let lastHour = NaN;
let lastDay = '';

// Plain calendar days are handled as UTC midnights, so no time zone can shift them.
function parseDay(day: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) throw new RangeError(`not a date: ${day}`);
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  if (d.toISOString().slice(0, 10) !== day) throw new RangeError(`not a date: ${day}`);
  return d;
}
const formatDay = (d: Date) => d.toISOString().slice(0, 10);

export function isCalendarDay(value: string): boolean {
  try {
    parseDay(value);
    return true;
  } catch {
    return false;
  }
}

export function addDays(day: string, days: number): string {
  const d = parseDay(day);
  d.setUTCDate(d.getUTCDate() + days);
  return formatDay(d);
}

/** Adds calendar months; a day that does not exist in the target month becomes its last day (31.01. + 1 month = 28./29.02.). */
export function addMonths(day: string, months: number): string {
  const d = parseDay(day);
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1));
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d.getUTCDate(), lastDay));
  return formatDay(target);
}

/** Easter Sunday (Gregorian, anonymous algorithm of Meeus/Jones/Butcher). */
function easterSunday(year: number): string {
  const a = year % 19, b = Math.floor(year / 100), c = year % 100;
  const d = Math.floor(b / 4), e = b % 4, f = Math.floor((b + 8) / 25), g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30, i = Math.floor(c / 4), k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7, m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31), dayOfMonth = ((h + l - 7 * m + 114) % 31) + 1;
  return `${year}-${String(month).padStart(2, '0')}-${String(dayOfMonth).padStart(2, '0')}`;
}

/** Nationwide German public holidays (bundeseinheitliche Feiertage) of a year; regional ones are not included. */
export function nationwideHolidays(year: number): Set<string> {
  const easter = easterSunday(year);
  return new Set([
    `${year}-01-01`, // Neujahr
    addDays(easter, -2), // Karfreitag
    addDays(easter, 1), // Ostermontag
    `${year}-05-01`, // Tag der Arbeit
    addDays(easter, 39), // Christi Himmelfahrt
    addDays(easter, 50), // Pfingstmontag
    `${year}-10-03`, // Tag der Deutschen Einheit
    `${year}-12-25`,
    `${year}-12-26`,
  ]);
}

/** Werktag as the Fachdienst counts it: Monday to Saturday, except nationwide public holidays. */
export function isWorkingDay(day: string): boolean {
  const d = parseDay(day);
  return d.getUTCDay() !== 0 && !nationwideHolidays(d.getUTCFullYear()).has(day);
}

/** The n-th working day counting the start day itself when it is one (n >= 1). */
export function nthWorkingDay(start: string, n: number): string {
  let day = start;
  let count = 0;
  for (;;) {
    if (isWorkingDay(day) && ++count === n) return day;
    day = addDays(day, 1);
  }
}

/** Entlassrezept: valid for 3 working days including the issue day (FD config entlassRezeptValidityInWorkDays). */
export const ENTLASSREZEPT_WORKING_DAYS = 3;

type DateFacts = Pick<PrescriptionFacts, 'statusKennzeichen'> & {
  medicationRequest: Pick<PrescriptionFacts['medicationRequest'], 'multiplePrescription'>;
};

/**
 * AcceptDate/ExpiryDate of a Task on $activate, based on the German local day of the QES signing time.
 * Order as in the FD: MVO, then the flowtype rule, with the Entlassrezept overriding acceptDate.
 */
export function computeTaskDates(flowType: string, signingTime: Date, facts: DateFacts): { acceptDate: string; expiryDate: string } {
  const day = berlinDay(signingTime);
  const mvo = facts.medicationRequest.multiplePrescription;
  if (mvo) {
    const end = mvo.end ?? addDays(day, 365);
    return { acceptDate: end, expiryDate: end };
  }
  if (flowType === '166') {
    const sixDays = addDays(day, 6);
    return { acceptDate: sixDays, expiryDate: sixDays };
  }
  const expiryDate = addMonths(day, 3);
  let acceptDate = flowType === '160' || flowType === '169' ? addDays(day, 28) : expiryDate;
  if (facts.statusKennzeichen && ENTLASSREZEPT_CODES.has(facts.statusKennzeichen) && flowType !== '162') {
    acceptDate = nthWorkingDay(day, ENTLASSREZEPT_WORKING_DAYS);
  }
  return { acceptDate, expiryDate };
}
