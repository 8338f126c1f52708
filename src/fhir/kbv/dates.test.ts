import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addMonths, berlinDay, computeTaskDates, isWorkingDay, nationwideHolidays, nthWorkingDay } from './dates.ts';

const plain = { statusKennzeichen: '00', medicationRequest: {} };

describe('berlinDay', () => {
  it('uses the German local day in winter (UTC+1) and summer (UTC+2)', () => {
    assert.equal(berlinDay(new Date('2026-11-22T23:30:00Z')), '2026-11-23');
    assert.equal(berlinDay(new Date('2026-11-22T22:59:59Z')), '2026-11-22');
    assert.equal(berlinDay(new Date('2026-07-01T21:59:00Z')), '2026-07-01');
    assert.equal(berlinDay(new Date('2026-07-01T22:00:00Z')), '2026-07-02');
  });
  it('refuses an invalid date', () => assert.throws(() => berlinDay(new Date('x')), RangeError));
  it('changes day exactly at Berlin midnight, also when asked again within the same hour', () => {
    for (const [before, after] of [['2026-03-28T22:59:59.999Z', '2026-03-28T23:00:00Z'], ['2026-10-24T21:59:59.999Z', '2026-10-24T22:00:00Z']]) {
      const day = berlinDay(new Date(before));
      assert.equal(berlinDay(new Date(before)), day);
      assert.notEqual(berlinDay(new Date(after)), day);
      assert.equal(berlinDay(new Date(before)), day);
    }
    assert.equal(berlinDay(new Date('2026-03-29T00:30:00Z')), '2026-03-29');
    assert.equal(berlinDay(new Date('2026-03-29T01:30:00Z')), '2026-03-29', 'the hour the clocks go forward');
    assert.equal(berlinDay(new Date('2026-10-25T00:30:00Z')), '2026-10-25');
    assert.equal(berlinDay(new Date('2026-10-25T01:30:00Z')), '2026-10-25', 'the hour the clocks go back');
  });
});

describe('addMonths', () => {
  it('clamps to the end of a shorter month', () => {
    assert.equal(addMonths('2026-11-30', 3), '2027-02-28');
    assert.equal(addMonths('2027-11-30', 3), '2028-02-29');
    assert.equal(addMonths('2026-05-31', 1), '2026-06-30');
    assert.equal(addMonths('2026-11-23', 3), '2027-02-23');
  });
});

describe('working days (Mon-Sat without nationwide holidays, as the FD WorkDay)', () => {
  it('knows the moving holidays of 2026', () => {
    const h = nationwideHolidays(2026);
    for (const d of ['2026-04-03', '2026-04-06', '2026-05-14', '2026-05-25', '2026-10-03', '2026-12-25', '2026-12-26']) assert.ok(h.has(d), d);
    assert.ok(!h.has('2026-06-04'), 'Fronleichnam is regional only');
  });
  it('Saturday works, Sunday and holidays do not', () => {
    assert.equal(isWorkingDay('2026-11-21'), true);
    assert.equal(isWorkingDay('2026-11-22'), false);
    assert.equal(isWorkingDay('2026-12-25'), false);
  });
  it('counts the start day when it is a working day', () => {
    assert.equal(nthWorkingDay('2026-11-23', 1), '2026-11-23');
    assert.equal(nthWorkingDay('2026-11-22', 1), '2026-11-23');
  });
});

describe('computeTaskDates (erp-api §3.1)', () => {
  const signed = new Date('2026-11-22T23:30:00Z'); // 2026-11-23 in Berlin
  it('160/169: accept +28 days, expiry +3 months', () => {
    for (const flow of ['160', '169']) {
      assert.deepEqual(computeTaskDates(flow, signed, plain), { acceptDate: '2026-12-21', expiryDate: '2027-02-23' });
    }
  });
  it('200/209/162: accept = expiry = +3 months, clamped', () => {
    for (const flow of ['200', '209', '162']) {
      assert.deepEqual(computeTaskDates(flow, new Date('2026-11-30T12:00:00Z'), plain), { acceptDate: '2027-02-28', expiryDate: '2027-02-28' });
    }
  });
  it('166: six days', () => {
    assert.deepEqual(computeTaskDates('166', signed, plain), { acceptDate: '2026-11-29', expiryDate: '2026-11-29' });
  });
  it('Entlassrezept (04/14): 3 working days incl. issue day, expiry unchanged', () => {
    // Friday 2026-11-20: Fri, Sat, Mon.
    assert.deepEqual(computeTaskDates('160', new Date('2026-11-20T09:00:00Z'), { statusKennzeichen: '04', medicationRequest: {} }),
      { acceptDate: '2026-11-23', expiryDate: '2027-02-20' });
    // Thursday 2026-12-24: 24, (25, 26 holidays, 27 Sunday), 28, 29.
    assert.equal(computeTaskDates('160', new Date('2026-12-24T09:00:00Z'), { statusKennzeichen: '14', medicationRequest: {} }).acceptDate, '2026-12-29');
    // Easter Saturday 2026-04-04: 4, (5 Sunday, 6 Ostermontag), 7, 8.
    assert.equal(computeTaskDates('200', new Date('2026-04-04T09:00:00Z'), { statusKennzeichen: '04', medicationRequest: {} }).acceptDate, '2026-04-08');
  });
  it('MVO: end of the period, else +365 days', () => {
    const mvo = (end?: string) => ({ statusKennzeichen: '00', medicationRequest: { multiplePrescription: { numerator: 1, denominator: 2, start: '2026-11-23', end } } });
    assert.deepEqual(computeTaskDates('160', signed, mvo('2027-03-01')), { acceptDate: '2027-03-01', expiryDate: '2027-03-01' });
    assert.deepEqual(computeTaskDates('160', signed, mvo()), { acceptDate: '2027-11-23', expiryDate: '2027-11-23' });
  });
});
